import t from 'tap'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'
import { rawRequest } from './helpers/raw.js'

const MIN = 60_000
const HOUR = 60 * MIN

/** Signs a device in as alice, then signs alice in elsewhere: returns the ended device and its dead cookie. */
async function endedDevice (h: Harness, kind: 'browser' | 'api' = 'api'): Promise<{ device: Device, cookie: string, live: Device }> {
  const device = h.device(kind)
  await device.formLogin('alice')
  const cookie = device.sessionCookie as string
  h.clock.advance(MIN)
  const live = h.device(kind)
  await live.formLogin('alice')
  return { device, cookie, live }
}

t.test('cookies are cleared with the Path and Domain the app set them with', async (t) => {
  // Browsers keep a Domain cookie only on a host under that domain.
  const h = await startHarness(t, { appOptions: { cookiePath: '/', cookieDomain: 'example.test' }, deviceHeaders: { host: 'app.example.test' } })
  const { device } = await endedDevice(h)
  const r = await device.send('/api/me')
  t.equal(r.status, 401)
  const session = r.setCookies.filter((c) => c.startsWith('sessionid='))
  t.match(session[0], /Max-Age=0; Domain=example\.test; Path=\//, 'the app\'s Domain')
  t.match(session[1], /^sessionid=; Max-Age=0; Path=\/; Expires=/, 'and a host-only Path=/ removal, in case')
})

t.test('a cookie scoped to a sub-path is cleared on that path', async (t) => {
  const h = await startHarness(t, { appOptions: { cookiePath: '/app' } })
  const { device } = await endedDevice(h)
  const r = await device.send('/api/me')
  t.match(r.setCookies.find((c) => c.startsWith('sessionid=')), /Path=\/app/)
})

t.test('a request with the session cookie twice is judged by every value', async (t) => {
  const h = await startHarness(t)
  const { cookie: dead, live } = await endedDevice(h)
  const alive = live.sessionCookie as string
  const before = h.app.requests
  for (const header of [`sessionid=${dead}; sessionid=${alive}`, `sessionid=${alive}; sessionid=${dead}`, `a=1; sessionid=${alive};sessionid=${dead} ; b=2`]) {
    const r = await h.device().send('/api/me', { headers: { cookie: header } })
    t.equal(r.status, 401, `refused: ${header.replace(/[0-9a-f]{32}/g, (v) => (v === dead ? 'DEAD' : 'LIVE'))}`)
  }
  t.equal(h.app.requests, before, 'none of them reached the app')
  const both = await h.device().send('/api/me', { headers: { cookie: `sessionid=${alive}; sessionid=${alive}` } })
  t.equal(both.status, 200, 'two live values pass')
})

t.test('two Cookie headers are judged together', async (t) => {
  const h = await startHarness(t)
  const { cookie: dead, live } = await endedDevice(h)
  const r = await rawRequest(h.base, `GET /api/me HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nCookie: sessionid=${live.sessionCookie ?? ''}\r\nCookie: sessionid=${dead}\r\n\r\n`)
  t.equal(r.status, 401)
  t.match(r.body, /session_ended/)
})

t.test('an ended cookie never blocks signing in again', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}ended: { redirect: /admin/login/?sessioncap=ended }\n` })
  const { device, cookie } = await endedDevice(h, 'browser')
  const stuck = h.device('browser')
  stuck.jar.set('sessionid', cookie)

  // The login page itself, with the dead cookie still sent (say clearing failed).
  const page = await stuck.send('/admin/login/?sessioncap=ended')
  t.equal(page.status, 200, 'the login form is shown, not another redirect')
  t.match(page.setCookies, [/^sessionid=; /], 'and the browser is asked again to drop the cookie')
  stuck.jar.set('sessionid', cookie)
  const echoed = await stuck.send('/echo', { headers: { accept: 'application/json' } })
  t.equal(echoed.status, 401, 'elsewhere the dead cookie is still refused')

  stuck.jar.set('sessionid', cookie)
  const login = await stuck.formLogin('alice')
  t.equal(login.status, 302, 'the login goes through')
  t.not(stuck.sessionCookie, cookie)
  t.equal(await stuck.whoami(), 'alice')
  t.equal((await h.gateway.store.check(h.gateway.context.hash(cookie), h.clock.now())).state, 'ended', 'the old one stays ended')
  t.equal(device.sessionCookie, cookie)
})

t.test('the app never sees an ended cookie, even on a login route', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { method: POST, path: /admin/login/, user: { form: username } }
  - { method: POST, path: /echo, user: { form: username } }
` })
  const { cookie } = await endedDevice(h)
  const r = await h.device().send('/echo', { form: { username: 'x' }, headers: { cookie: `a=1; sessionid=${cookie}; b=2` } })
  t.equal(r.status, 200)
  t.equal((r.json() as { headers: { cookie: string } }).headers.cookie, 'a=1; b=2', 'only the ended value was taken out')
})

t.test('a session unused for idleTimeout stops counting; used again, it is a login again', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  h.clock.advance(2 * HOUR + MIN)
  const phone = h.device()
  await phone.formLogin('alice')
  t.equal((await h.gateway.store.stats(h.clock.now())).ended, 0, 'the idle laptop was not counted, so nothing ended')
  t.equal(await phone.whoami(), 'alice')
  h.clock.advance(MIN)
  t.equal(await laptop.whoami(), 'alice', 'the laptop comes back and is admitted')
  t.equal(await phone.whoami(), 401, 'which ends the now idlest session: the limit still holds')
})

t.test('with reject-new, an idle session that comes back over the limit is refused', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: reject-new\n` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  h.clock.advance(2 * HOUR + MIN)
  const phone = h.device()
  await phone.formLogin('alice')
  t.equal(await laptop.whoami(), 401)
  t.equal(await phone.whoami(), 'alice', 'the user is never locked out: the device in hand works')
})

t.test('a session older than maxAge stops counting', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}sessions: { idleTimeout: 0s, maxAge: 1h }\n` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  h.clock.advance(HOUR)
  const phone = h.device()
  await phone.formLogin('alice')
  t.equal((await h.gateway.store.stats(h.clock.now())).ended, 0)
  t.equal(await laptop.whoami(), 'alice', 'no longer tracked: the app decides')
})

t.test('an ended session stays refused for maxAge', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}sessions: { maxAge: 1d }\n` })
  const { device } = await endedDevice(h)
  h.clock.advance(23 * HOUR)
  t.equal(await device.whoami(), 401)
})

t.test('malformed and odd cookies get a normal answer', async (t) => {
  const h = await startHarness(t)
  for (const cookie of ['sessionid', 'sessionid=', '=;;;=', 'sessionid="', `sessionid=${'x'.repeat(8000)}`, 'sessionid=%zz%00', 'sessionidx=1; xsessionid=2']) {
    const r = await h.device().send('/api/me', { headers: { cookie } })
    t.equal(r.status, 401, `app answered (not signed in) for ${cookie.slice(0, 30)}`)
    t.match(r.json(), { error: 'not signed in' })
  }
})

t.test('alsoClear cookies are cleared with the Path the app set them with', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  const login = await laptop.send('/admin/login/', { form: { username: 'alice', password: 'x', remember: 'on' } })
  t.match(login.setCookies, ['sessionid=', 'csrftoken=abc; Path=/', 'remember_me=1; Path=/admin; Max-Age=3600'].map((p) => new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)))
  await h.device().formLogin('alice')
  const r = await laptop.send('/api/me')
  t.equal(r.status, 401)
  t.match(r.setCookies.find((c) => c.startsWith('remember_me=;')), /Path=\/admin/, 'the remember-me cookie\'s own Path')
  t.ok(r.setCookies.some((c) => /^remember_me=; .*Path=\/;/.test(c) || /^remember_me=; .*Path=\/$/.test(c)), 'and a Path=/ removal, in case')
})
