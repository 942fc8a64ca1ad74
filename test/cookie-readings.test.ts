import t from 'tap'
import fc from 'fast-check'
import { allSessionCookieValues, COOKIE_READINGS, isPlainCookieHeader, sessionCookieValues } from '../src/http/cookie-readings.js'
import { canonicalCookieName, cookieValues } from '../src/http/cookies.js'
import { createSessionHasher } from '../src/http/session-hash.js'
import { hostileCookieHeader } from './helpers/hostile-cookies.js'

/**
 * The readings' own properties (fixed seeds, thousands of runs): the fast
 * path is exact for headers as browsers send them, leaving out the pieces
 * that cannot name the session loses nothing, and no header costs more than
 * linear time.
 */

const NAME = 'sessionid'
const hash = createSessionHasher('readings')
const underName = (header: string, read: (h: string) => Array<{ name: string, value: string }>): string[] =>
  read(header).filter((p) => p.value !== '' && canonicalCookieName(p.name) === NAME).map((p) => p.value)

t.test('a plain header (as browsers send it) reads, in every framework, as the tracked reading\'s ids', async (t) => {
  const name = fc.stringMatching(/^[A-Za-z0-9!#&'*.^_`|~-]{1,10}$/)
  const value = fc.stringMatching(/^(?:[A-Za-z0-9!#&'*+.^_`|~-]|%[0-9A-Fa-f]{2})*$/)
  const pair = fc.tuple(fc.oneof(name, fc.constantFrom('sessionid', 'SessionID', 'session.id')), value).map(([n, v]) => `${n}=${v}`)
  fc.assert(fc.property(fc.array(pair, { minLength: 1, maxLength: 8 }), (pairs) => {
    const header = pairs.join('; ')
    if (!isPlainCookieHeader(header)) return false
    const tracked = new Set(cookieValues(header, NAME).map(hash))
    for (const reading of COOKIE_READINGS) {
      for (const v of underName(header, reading.read)) {
        // Session ids are printable ASCII without spaces or `%`: `+` read as a
        // space (Rack, old PHP), an escape decoded to a byte above 0x7F or one
        // left undecoded (.NET keeps invalid UTF-8 escapes) names no session.
        if (!tracked.has(hash(v)) && /^[\x21-\x24\x26-\x7e]*$/.test(v)) return false
      }
    }
    return true
  }), { seed: 7, numRuns: 5000 })
  t.pass('5000 plain headers')
})

t.test('leaving out the pieces that cannot name the session cookie loses no value of any reading', async (t) => {
  fc.assert(fc.property(hostileCookieHeader(NAME, ['s3ss10nA', 'Other-7z'], 10), (header) => {
    const judged = new Set((allSessionCookieValues(header, NAME) ?? []).map(hash))
    return COOKIE_READINGS.every((reading) => underName(header, reading.read).every((v) => judged.has(hash(v))))
  }), { seed: 8, numRuns: 4000 })
  t.pass('4000 hostile headers, each read whole by every reading')
})

// Speed is measured, not timed in tests: the times are reported as comments
// (a quadratic reading takes over 100 ms on these; a linear one a few), and
// the assertions check that each shape is read whole, to the value it hides.
t.test('16 KB shapes that made naive parsers quadratic are read whole', async (t) => {
  const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1')
  const shapes: Array<[string, string]> = [
    ['a=a=a=…"', `a=${'a='.repeat(8000)}"; sessionid=x"`],
    ['a=a=… then spaces', `sessionid=x,${'a='.repeat(4000)}${' '.repeat(8000)}X`],
    ['unclosed quotes', `${'"a;'.repeat(5300)}sessionid="x`],
    ['pairs', `${'a=b;'.repeat(4000)}sessionid="x`],
    ['backslashes', `sessionid="${'\\a'.repeat(8000)}`],
    ['commas', `$Version=1, sessionid=x, ${'a="b", '.repeat(2000)}`],
    ['equals', `sessionid=x,${'='.repeat(16000)}`]
  ]
  for (const [label, shape] of shapes) {
    const header = flat(shape)
    const start = process.hrtime.bigint()
    const read = sessionCookieValues(header, NAME)
    t.comment(`${label} (${header.length} B): ${(Number(process.hrtime.bigint() - start) / 1e6).toFixed(1)} ms`)
    t.ok(read.tooMany || read.tracked.length + read.others.length > 0, `${label}: read whole, the session cookie found (or the header refused as too many)`)
  }
})
