import t from 'tap'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'

/** alice signs in on a laptop, then elsewhere: the laptop's session is ended. */
async function endedLaptop (h: Harness): Promise<{ laptop: Device, cookie: string }> {
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie as string
  h.clock.advance(60_000)
  await h.device().formLogin('alice')
  return { laptop, cookie }
}

t.test('an ended cookie re-spelled (percent-encoded, quoted) is still refused', async (t) => {
  const h = await startHarness(t)
  const { cookie } = await endedLaptop(h)
  const before = h.app.requests
  const spellings = [
    `%${cookie.charCodeAt(0).toString(16)}${cookie.slice(1)}`,
    cookie.split('').map((c) => `%${c.charCodeAt(0).toString(16)}`).join(''),
    `"${cookie}"`,
    `"%${cookie.charCodeAt(0).toString(16).toUpperCase()}${cookie.slice(1)}"`,
    // Python's cookie parser (Django, Werkzeug) undoes backslash escapes inside quotes.
    `"${cookie.split('').map((c) => `\\${c}`).join('')}"`,
    `"\\${cookie.charCodeAt(0).toString(8).padStart(3, '0')}${cookie.slice(1)}"`
  ]
  for (const spelled of spellings) {
    const r = await h.device().send('/api/me', { headers: { cookie: `sessionid=${spelled}` } })
    t.equal(r.status, 401, `refused: ${spelled.slice(0, 12)}…`)
    t.match(r.json(), { error: 'session_ended' })
  }
  t.equal(h.app.requests, before, 'none reached the app (which would decode it to the live-looking session)')
})

t.test('an ended cookie under a re-spelled name is still refused', async (t) => {
  const h = await startHarness(t, {
    appOptions: { cookieName: 'app_session' },
    yaml: APP_ROUTES.replace('cookie: sessionid', 'cookie: app_session')
  })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.jar.get('app_session') as string
  await h.device().formLogin('alice')
  // ASP.NET reads names case-insensitively; PHP reads "app.session" as "app_session".
  for (const name of ['APP_SESSION', 'App_Session', 'app.session', 'app session', 'app[session']) {
    const r = await h.device().send('/api/me', { headers: { cookie: `${name}=${cookie}` } })
    t.equal(r.status, 401, name)
  }
})

t.test('an ended session id carried in the URL is refused, and masked in the logs', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}log: { level: info, requests: true }\n` })
  const { cookie } = await endedLaptop(h)
  const before = h.app.requests
  for (const path of [`/echo;jsessionid=x;sessionid=${cookie}`, `/echo?a=1&sessionid=${cookie}`, `/echo;SESSIONID=${cookie}?x=1`]) {
    const r = await h.device().send(path)
    t.equal(r.status, 401, path.replace(cookie, 'DEAD'))
  }
  t.equal(h.app.requests, before)
  t.notOk(h.logs.some((l) => l.includes(cookie)), 'the id never appears in a log line')
  t.ok(h.logs.some((l) => l.includes('sessionid=[redacted]')), 'the URL is logged with the id masked')
  const fine = await h.device().send('/echo?sessionid=unknown-value')
  t.equal(fine.status, 200, 'an id in the URL the gateway does not know passes')
})
