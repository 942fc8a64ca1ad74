/**
 * Issue #12: the gateway reads an answer's Set-Cookie headers as a browser's
 * cookie store does — in order, by name, domain and path, with RFC 6265's
 * cookie dates — and counts the session the browser is left with.
 */
import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { Device } from './helpers/client.js'

const REJECT_NEW = `${APP_ROUTES}policy: reject-new\n`

/** The session cookie's value in one Set-Cookie header. */
function valueIn (setCookie: string | undefined): string {
  const m = /^sessionid=([^;]*)/.exec(setCookie ?? '')
  if (m === null) throw new Error(`no session cookie in ${String(setCookie)}`)
  return m[1] as string
}

t.test('a login answer that sets the session cookie and then clears it is not counted: under reject-new the next real login is admitted', async (t) => {
  const h = await startHarness(t, { yaml: REJECT_NEW, appOptions: { formLoginCookies: 'set-then-clear' } })
  const laptop = h.device()
  const r = await laptop.formLogin('alice')
  t.equal(r.status, 302, 'the app\'s answer reaches the client')
  t.equal(laptop.sessionCookie, undefined, 'a browser is left with no session cookie')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'nothing counted for alice')

  const phone = h.device()
  const real = await phone.apiLogin('alice')
  t.equal(real.status, 200, 'the real login is admitted under reject-new (limit 1)')
  t.equal(await phone.whoami(), 'alice')

  // The app kept that session: a client that took the first header and ignored the clear must not hold it uncounted.
  const kept = valueIn(r.setCookies[0])
  const script = await h.device().send('/api/me', { headers: { cookie: `sessionid=${kept}` } })
  t.equal(script.status, 401, 'the value the answer took back is refused')
})

t.test('a clear whose Expires only the cookie-date algorithm reads (Date.parse says NaN) is a logout', async (t) => {
  // Each a date to a browser (RFC 6265 §5.1.1) and NaN to Date.parse; `deleted` is PHP's clearing value.
  const dates = [
    'Thu, 01-Jan-1970 00:00:01 CET',
    '01-Jan-1970 00:00:01 MESZ',
    'Thu, 01 - Jan - 1970 00:00:01 GMT',
    '00:00:01 Thu, 01-Jan-1970 GMT',
    'Thu, 01_Jan_1970 00:00:01 GMT'
  ]
  for (const date of dates) {
    t.ok(Number.isNaN(Date.parse(date)), `Date.parse cannot read ${date}`)
    const h = await startHarness(t, { appOptions: { sessionClearHeader: `sessionid=deleted; expires=${date}; path=/` } })
    const laptop = h.device()
    await laptop.apiLogin('alice@example.com')
    const cookie = laptop.sessionCookie as string
    const r = await laptop.send('/api/logout', { method: 'POST' })
    t.equal(r.status, 200)
    t.same(await h.gateway.store.sessionsOf('alice@example.com', h.clock.now()), [], `${date}: the slot is free`)
    t.equal((await h.gateway.store.check(h.gateway.context.hash(cookie), h.clock.now())).state, 'ended', `${date}: the session is ended as logged out`)
    const phone = h.device()
    await phone.apiLogin('alice@example.com')
    t.ok(h.logs.some((l) => /"ended":\[\],"msg":"login admitted"/.test(l)), `${date}: the next login had to end nothing`)
  }
})

t.test('set, clear, set again: the last value is the session, and the interim one is refused', async (t) => {
  const h = await startHarness(t, { appOptions: { formLoginCookies: 'set-clear-set' } })
  const laptop = h.device()
  const r = await laptop.formLogin('alice')
  t.equal(r.setCookies.filter((c) => c.startsWith('sessionid=')).length, 3, 'the app sent set, clear, set')
  const interim = valueIn(r.setCookies[0])
  const last = valueIn(r.setCookies[2])
  t.equal(laptop.sessionCookie, last, 'a browser keeps the last value')
  const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(sessions.length, 1, 'one session counted')
  t.match(await h.gateway.store.check(h.gateway.context.hash(last), h.clock.now()), { state: 'live', slot: sessions[0]?.id }, 'the last value is that session')
  t.equal(await laptop.whoami(), 'alice')
  t.equal(await h.device().send('/api/me', { headers: { cookie: `sessionid=${interim}` } }).then((a) => a.status), 401, 'the interim value is refused')
})

t.test('the value left under the session cookie\'s path is the session, whatever another path set and cleared', async (t) => {
  const h = await startHarness(t, {
    appOptions: { loginExtraSetCookies: ['sessionid=elsewhere; Path=/legacy', 'sessionid=; Path=/legacy; Max-Age=0'] }
  })
  const r = await h.device().formLogin('alice')
  const session = valueIn(r.setCookies[0])
  const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(sessions.length, 1)
  t.match(await h.gateway.store.check(h.gateway.context.hash(session), h.clock.now()), { state: 'live', slot: sessions[0]?.id }, 'the Path=/ value is alice\'s session')
  t.equal(await new Device(h.base, 'api', { cookie: `sessionid=${session}` }).whoami(), 'alice')
})

t.test('a session cookie whose Domain the request host is not under is still counted: the gateway cannot know the host the browser used', async (t) => {
  // A proxy in front may well rewrite Host (nginx's default sends its upstream's name): refusing such logins would refuse them all.
  const h = await startHarness(t, { appOptions: { cookieDomain: 'example.test' } })
  const d = h.device()
  const r = await d.formLogin('alice')
  t.match(r.setCookies[0], /^sessionid=[0-9a-f]+; Path=\/; Domain=example\.test/)
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'counted')
  t.equal(await new Device(h.base, 'api', { cookie: `sessionid=${valueIn(r.setCookies[0])}` }).whoami(), 'alice')
})

t.test('a __Host- session cookie without Secure is ignored by browsers: not counted, and refused', async (t) => {
  const h = await startHarness(t, {
    yaml: 'session: { cookie: __Host-sid }\nlogin:\n  - { method: POST, path: /admin/login/, user: { form: username } }\n',
    appOptions: { cookieName: '__Host-sid' }
  })
  const r = await h.device().formLogin('alice')
  const header = r.setCookies.find((c) => c.startsWith('__Host-sid=')) as string
  t.notMatch(header, /Secure/, 'the app forgot Secure')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'not counted')
  const value = (/^__Host-sid=([^;]*)/.exec(header) as RegExpExecArray)[1] as string
  t.equal((await h.device().send('/api/me', { headers: { cookie: `__Host-sid=${value}` } })).status, 401, 'a client that keeps it anyway is refused')
  t.ok(h.logs.some((l) => /__Host-\/__Secure- session cookie without the attributes/.test(l)), 'a warning says why')
})

t.test('observe mode: a session cookie a browser ignores (a __Host- cookie without Secure) is reported, not refused', async (t) => {
  const h = await startHarness(t, {
    yaml: 'mode: observe\nsession: { cookie: __Host-sid }\nlogin:\n  - { method: POST, path: /admin/login/, user: { form: username } }\n',
    appOptions: { cookieName: '__Host-sid' }
  })
  const r = await h.device().formLogin('alice')
  const header = r.setCookies.find((c) => c.startsWith('__Host-sid=')) as string
  const value = (/^__Host-sid=([^;]*)/.exec(header) as RegExpExecArray)[1] as string
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'not counted')
  t.equal((await h.device().send('/api/me', { headers: { cookie: `__Host-sid=${value}` } })).status, 200, 'not refused')
  t.ok(h.logs.some((l) => /observe: would refuse this session value/.test(l)), 'what enforce would do is logged')
})

t.test('an app that re-sends the carried cookie before rotating it (PHP) keeps its session', async (t) => {
  const h = await startHarness(t, { appOptions: { rotateResendsOld: true } })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const before = laptop.sessionCookie as string
  const r = await laptop.send('/rotate', { method: 'POST' })
  t.equal(r.setCookies.length, 2, 'old, then new')
  t.not(laptop.sessionCookie, before)
  t.equal(await laptop.whoami(), 'alice', 'the rotated cookie works')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'still one session')
  t.match(await h.gateway.store.check(h.gateway.context.hash(laptop.sessionCookie as string), h.clock.now()), { state: 'live' })
})
