import t, { type Test } from 'tap'
import fc from 'fast-check'
import { allSessionCookieValues } from '../src/http/cookie-readings.js'
import { startHarness, type Harness } from './helpers/harness.js'
import { hostileCookieHeader } from './helpers/hostile-cookies.js'
import { getWithCookie } from './helpers/raw-cookie.js'
import { jshttpReadings, phpReadings, pythonReadings, tomcatAvailable, tomcatReadings, type RealReadings } from './helpers/real-parsers.js'

/**
 * Property-based, through the real gateway over real HTTP: thousands of
 * hostile Cookie headers (fixed seed) carrying ended and live sessions in
 * every spelling, sent in batches. Then, over the headers the app received
 * (the stand-in app echoes them), every model and every real parser that
 * runs here: whatever value any of them picks for the session cookie, it is
 * never an ended session. And a header carrying only live sessions, however
 * spelled, is never refused.
 */

const NAME = 'sessionid'
const CONCURRENCY = 8

interface Sessions {
  /** Ended by the limit (its device still holds it: refused). */
  ended: string
  /** Logged out (its device moved on: taken out of the request). */
  loggedOut: string
  live: string[]
}

async function sessions (h: Harness): Promise<Sessions> {
  const laptop = h.device()
  await laptop.formLogin('alice')
  h.clock.advance(60_000)
  const phone = h.device()
  await phone.formLogin('alice')
  const bob = h.device()
  await bob.formLogin('bob')
  const gone = bob.sessionCookie as string
  await bob.send('/admin/logout/', { method: 'POST' })
  const carol = h.device()
  await carol.formLogin('carol')
  return { ended: laptop.sessionCookie as string, loggedOut: gone, live: [phone.sessionCookie as string, carol.sessionCookie as string] }
}

/** `received`: the Cookie header the app got ('' when everything was taken out), undefined when it was not reached. */
interface Sent { header: string, status: number, received: string | undefined }

/** Each header to /echo, a few at a time: the status and the Cookie header the app received (if it was reached). */
async function sendAll (h: Harness, headers: readonly string[]): Promise<Sent[]> {
  const out: Sent[] = new Array(headers.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < headers.length) {
      const i = next++
      const header = headers[i] as string
      const r = await getWithCookie(h.base, '/echo', Buffer.from(header, 'latin1'))
      // The echo is JSON in UTF-8 of the header as the app read it (Latin-1).
      const received = r.status === 200 ? (JSON.parse(Buffer.from(r.body, 'latin1').toString('utf8')) as { headers: { cookie?: string } }).headers.cookie ?? '' : undefined
      out[i] = { header, status: r.status, received }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return out
}

/** Values under NAME that real parsers picked from the received headers and that are ended sessions. */
function endedPicks (received: readonly string[], real: readonly RealReadings[], isEnded: (value: string) => boolean): string[] {
  const found: string[] = []
  for (const [i, header] of received.entries()) {
    for (const [id, parsed] of Object.entries(real[i] ?? {})) {
      for (const [name, value] of parsed.cookies) {
        if (name === NAME && value !== null && isEnded(value)) found.push(`${id} read an ended session from ${JSON.stringify(header)}`)
      }
    }
  }
  return found
}

t.test('whatever any framework reads from the header the app receives, it is never an ended session', async (t: Test) => {
  const h = await startHarness(t)
  const s = await sessions(h)
  const endedIds = new Set([s.ended, s.loggedOut].map(h.gateway.context.hash))
  const isEnded = (value: string): boolean => endedIds.has(h.gateway.context.hash(value))
  const headers = fc.sample(hostileCookieHeader(NAME, [s.ended, s.loggedOut, ...s.live]), { seed: 4242, numRuns: 2500 })
  const before = h.app.requests
  const sent = await sendAll(h, headers)
  const reached = sent.filter((r) => r.received !== undefined)
  t.equal(h.app.requests - before, reached.length, 'every request the app saw is accounted for')
  t.ok(reached.length > 500 && reached.length < sent.length, `${reached.length} of ${sent.length} reached the app, the rest were refused`)
  t.ok(sent.some((r) => r.received !== undefined && r.received !== r.header), 'some reached it with ended values taken out')
  t.same(sent.filter((r) => r.status >= 500).map((r) => r.header).slice(0, 5), [], 'no request broke the gateway')

  const received = reached.map((r) => r.received as string)
  const byModels = received.filter((header) => allSessionCookieValues(header, NAME)?.some(isEnded) ?? true)
  t.same(byModels.slice(0, 10), [], 'no model reads an ended session from what the app received')

  const python = await pythonReadings(received)
  const real: RealReadings[] = python.readings.map((r, i) => ({ ...r, ...jshttpReadings([received[i] as string])[0] }))
  if (tomcatAvailable()) {
    const tomcat = await tomcatReadings(t, received)
    for (const [i, r] of tomcat.entries()) Object.assign(real[i] as RealReadings, r)
  }
  const php = await phpReadings(t, received.map((cookie) => ({ cookie })))
  for (const [i, a] of php.entries()) (real[i] as RealReadings).php = { cookies: a.cookie, error: null }
  t.same(endedPicks(received, real, isEnded).slice(0, 10), [], `no real parser (${Object.keys(real[0] ?? {}).join(', ')}) reads an ended session from it`)
})

t.test('a header carrying only live sessions, in any spelling, is never refused', async (t: Test) => {
  const h = await startHarness(t)
  const s = await sessions(h)
  // Up to three pieces: each spelling reads as a few ids at most, under the bound of ids a request may carry.
  const headers = fc.sample(hostileCookieHeader(NAME, s.live, 3), { seed: 4343, numRuns: 1500 })
  const sent = await sendAll(h, headers)
  const refused = sent.filter((r) => r.status !== 200)
  t.same(refused.slice(0, 10).map((r) => `${r.status} ${JSON.stringify(r.header)}`), [], `all ${sent.length} reached the app`)
  t.ok(sent.every((r) => r.received === r.header), 'each as it was sent: nothing taken out')
})
