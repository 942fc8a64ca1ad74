import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

const MIN = 60_000

t.test('limit 1, evict-idlest: the earlier device is signed out when the account signs in elsewhere', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  const phone = h.device()
  await laptop.formLogin('alice')
  t.equal(await laptop.whoami(), 'alice')
  h.clock.advance(MIN)
  await phone.formLogin('alice')
  t.equal(await phone.whoami(), 'alice', 'the new device is signed in')

  const before = h.app.requests
  const refused = await laptop.send('/api/me')
  t.equal(refused.status, 401)
  t.same(refused.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'concurrent_login_limit' })
  t.equal(h.app.requests, before, 'the ended session never reached the app')
  t.match(refused.setCookies, [/^sessionid=; .*Max-Age=0; Path=\//, /^remember_me=; .*Max-Age=0/], 'session and alsoClear cookies cleared')
  t.equal(refused.headers['cache-control'], 'no-store')
})

t.test('a browser carrying an ended session is redirected to ended.redirect, with the reason', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}ended: { redirect: /admin/login/?sessioncap=ended }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  await h.device('browser').formLogin('alice')
  const ended = await laptop.send('/some/page')
  t.equal(ended.status, 303)
  t.equal(ended.headers.location, '/admin/login/?sessioncap=ended&reason=concurrent_login_limit')
  t.match(ended.setCookies, [/^sessionid=; /, /^remember_me=; /])
  t.equal(laptop.sessionCookie, undefined, 'the browser dropped the cookie')
  const page = await laptop.send('/admin/login/?sessioncap=ended')
  t.equal(page.status, 200, 'the login page is shown')
  t.match(page.text, /signed out because this account signed in on another device/)
})

t.test('evict-idlest ends the least recently used session, not the oldest', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 2\n` })
  const [desktop, tablet, phone] = [h.device(), h.device(), h.device()]
  await desktop.formLogin('alice')
  h.clock.advance(MIN)
  await tablet.formLogin('alice')
  h.clock.advance(MIN)
  t.equal(await desktop.whoami(), 'alice', 'the oldest login is the one in use')
  h.clock.advance(MIN)
  await phone.formLogin('alice')
  t.equal(await desktop.whoami(), 'alice')
  t.equal(await tablet.whoami(), 401, 'the idlest one was ended')
  t.equal(await phone.whoami(), 'alice')
})

t.test('evict-oldest ends the session that logged in first, even if it is in use', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 2\npolicy: evict-oldest\n` })
  const [desktop, tablet, phone] = [h.device(), h.device(), h.device()]
  await desktop.formLogin('alice')
  h.clock.advance(MIN)
  await tablet.formLogin('alice')
  h.clock.advance(MIN)
  t.equal(await desktop.whoami(), 'alice')
  h.clock.advance(MIN)
  await phone.formLogin('alice')
  t.equal(await desktop.whoami(), 401)
  t.equal(await tablet.whoami(), 'alice')
  t.equal(await phone.whoami(), 'alice')
})

t.test('reject-new refuses the new login and leaves the existing sessions alone', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: reject-new\n` })
  const laptop = h.device()
  await laptop.apiLogin('alice@example.com')
  const appSessionsBefore = new Set(h.app.sessions.keys())

  const phone = h.device()
  const refused = await phone.apiLogin('alice@example.com')
  t.equal(refused.status, 401, 'the client gets the ended answer instead of the app\'s')
  t.same(refused.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'concurrent_login_limit' })
  t.notMatch(refused.text, /"user"/, 'the app\'s body is not delivered')
  t.equal(refused.setCookies.filter((c) => /^sessionid=[^;]/.test(c)).length, 0, 'the new cookie never reaches the client')
  t.match(refused.setCookies, [/^sessionid=; /])
  t.equal(phone.sessionCookie, undefined)
  t.equal(await laptop.whoami(), 'alice@example.com', 'the existing session is untouched')

  // The app did create a session for the refused login; its cookie must be useless.
  const created = [...h.app.sessions.keys()].filter((id) => !appSessionsBefore.has(id))
  t.equal(created.length, 1)
  const thief = h.device()
  thief.jar.set('sessionid', created[0] as string)
  t.equal(await thief.whoami(), 401, 'the refused session is refused at the gateway')
})

t.test('reject-new answers a browser with the redirect', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: reject-new\nended: { redirect: /admin/login/?sessioncap=refused }\n` })
  await h.device('browser').formLogin('alice')
  const r = await h.device('browser').formLogin('alice')
  t.equal(r.status, 303)
  t.equal(r.headers.location, '/admin/login/?sessioncap=refused&reason=concurrent_login_limit')
  t.notOk(r.setCookies.some((c) => c.startsWith('csrftoken=')), 'none of the app\'s headers are kept')
})

t.test('overrides: first match wins; users, match, and 0 for unlimited', async (t) => {
  const h = await startHarness(t, {
    yaml: `${APP_ROUTES}limit: 2
overrides:
  - { users: [ops-bot], limit: 0 }
  - { match: "^contractor-", limit: 1 }
  - { match: "^contractor-vip", limit: 5 }
`
  })
  const bots = Array.from({ length: 5 }, () => h.device())
  for (const b of bots) await b.formLogin('ops-bot')
  for (const b of bots) t.equal(await b.whoami(), 'ops-bot', 'unlimited')

  const c1 = h.device()
  const c2 = h.device()
  await c1.formLogin('contractor-vip1')
  await c2.formLogin('contractor-vip1')
  t.equal(await c1.whoami(), 401, 'the first matching override (limit 1) applies, not the later one')

  const s = [h.device(), h.device(), h.device()]
  for (const d of s) { await d.formLogin('staff'); h.clock.advance(MIN) }
  t.same(await Promise.all(s.map(async (d) => await d.whoami())), [401, 'staff', 'staff'], 'the default limit is 2')
})

t.test('users under the limit see the app exactly as before', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 3\n` })
  const devices = [h.device('browser'), h.device('browser'), h.device('browser')]
  for (const d of devices) {
    const r = await d.formLogin('alice')
    t.equal(r.status, 302)
    t.equal(r.headers.location, '/')
    t.match(r.setCookies, [/^sessionid=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax$/, 'csrftoken=abc; Path=/'], 'the app\'s cookies, unchanged')
  }
  for (const d of devices) {
    const home = await d.send('/')
    t.equal(home.status, 200)
    t.match(home.text, /Welcome, <strong>alice<\/strong>/)
  }
})

t.test('the name is normalised: trimmed, and lowercased where the route says so', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  const b = h.device()
  await a.apiLogin('  Alice@Example.com ')
  await b.apiLogin('alice@example.com')
  t.equal(await a.whoami(), 401, 'one account for the gateway')
  t.equal((await h.gateway.store.sessionsOf('alice@example.com', h.clock.now())).length, 1)

  const c = h.device()
  const d = h.device()
  await c.formLogin('Bob')
  await d.formLogin(' Bob ')
  t.equal(await c.whoami(), 401, 'trimmed on a case-sensitive route')
  const e = h.device()
  await e.formLogin('bob')
  t.equal(await d.whoami(), ' Bob ', 'but "bob" is another account there')
})
