import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportJWK, generateKeyPair } from 'jose'
import { JWT_SECRET } from './fixtures/legacy-app.mjs'
import { startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'

const MIN = 60_000

/** Two devices sign in as `user` through `login`; with limit 1 the first must end. */
async function secondLoginEndsFirst (t: Test, h: Harness, login: (d: Device) => Promise<unknown>, user: string): Promise<void> {
  const first = h.device()
  await login(first)
  t.equal(await first.whoami(), user, 'the first device is signed in')
  h.clock.advance(MIN)
  const second = h.device()
  await login(second)
  t.equal(await second.whoami(), user, 'the second device is signed in')
  t.equal(await first.whoami(), 401, 'the first one was ended: the login was recognised')
}

t.test('responseHeader: the app names the user in its answer', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /api/login, user: { responseHeader: X-Logged-In-User } }\n' })
  await secondLoginEndsFirst(t, h, async (d) => await d.apiLogin('hana'), 'hana')
  const r = await h.device().apiLogin('hana')
  t.equal(r.headers['x-logged-in-user'], 'hana', 'the header still reaches the client')
})

t.test('responseJson: the user from the JSON answer, which reaches the client unchanged', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /api/login, user: { responseJson: /user } }\n' })
  await secondLoginEndsFirst(t, h, async (d) => await d.apiLogin('ivan'), 'ivan')
  const r = await h.device().apiLogin('ivan')
  t.equal(r.text, '{"user":"ivan","role":"staff"}', 'byte for byte')
  t.equal(r.headers['content-length'], String(Buffer.byteLength(r.text)))
})

t.test('jwt: a claim of the token the app sets, verified when a secret is given', async (t) => {
  const yaml = (extra: string): string => `session: { cookie: sessionid }\nlogin:\n  - { path: /jwt/login, user: { jwt: { cookie: token, claim: sub${extra} } } }\n`
  const h = await startHarness(t, { yaml: yaml(`, secret: "${JWT_SECRET}"`) })
  await secondLoginEndsFirst(t, h, async (d) => await d.send('/jwt/login', { form: { username: 'jay', password: 'x' } }), 'jay')
  const forged = h.device()
  const r = await forged.send('/jwt/login', { form: { username: 'jay', password: 'x', forge: '1' } })
  t.equal(r.status, 401, 'a token that does not verify names nobody: the login is refused')
  t.same(r.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'login_not_identified' })

  const unverified = await startHarness(t, { yaml: yaml('') })
  await secondLoginEndsFirst(t, unverified, async (d) => await d.send('/jwt/login', { form: { username: 'kim', password: 'x', forge: '1' } }), 'kim')
})

t.test('jwt: verified with a JWKS file', async (t) => {
  const { publicKey } = await generateKeyPair('RS256')
  const dir = t.testdir({})
  const file = join(dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [{ ...await exportJWK(publicKey), alg: 'RS256', kid: 'k1' }] }))
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }\nlogin:\n  - { path: /jwt/login, user: { jwt: { cookie: token, jwks: "${file}" } } }\n` })
  // The stand-in app signs with HS256 and its secret, not this RSA key: nothing verifies.
  const r = await h.device().send('/jwt/login', { form: { username: 'lou', password: 'x' } })
  t.equal(r.status, 401)
  t.same(r.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'login_not_identified' })
})

t.test('whoami on a login route: JSON or a regular expression on a page, with anonymous values', async (t) => {
  const json = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /admin/login/, user: { whoami: { path: /api/me, json: /username } } }\n' })
  await secondLoginEndsFirst(t, json, async (d) => await d.formLogin('mia'), 'mia')
  t.ok(json.app.whoamiCalls >= 2, 'the gateway asked the app')

  const page = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /admin/login/, user: { whoami: { path: /, regex: "Welcome, <strong>([^<]+)</strong>", anonymous: [guest] } }, unidentified: pass }\n' })
  await secondLoginEndsFirst(t, page, async (d) => await d.formLogin('ned'), 'ned')
  const guest = page.device()
  await guest.formLogin('guest')
  t.equal(await guest.whoami(), 'guest', 'signed in at the app')
  t.same(await page.gateway.store.sessionsOf('guest', page.clock.now()), [], 'but "guest" is nobody for the gateway: not counted')
})

t.test('login: auto — logins on routes nobody listed are found with whoami', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login: auto
whoami: { path: /api/me, json: /username }
` })
  // A single sign-on callback nobody listed.
  const a = h.device()
  await a.send('/sso?user=otto')
  t.equal(await a.whoami(), 'otto')
  t.equal((await h.gateway.store.sessionsOf('otto', h.clock.now())).length, 1, 'counted')
  // "Remember me" silently making a new session.
  h.clock.advance(MIN)
  const b = h.device()
  b.jar.set('remember_me', 'u:otto')
  t.equal(await b.whoami(), 'otto', 'signed in by the remember-me cookie')
  t.equal(await a.whoami(), 401, 'which counted as a login: the first session ended')
  // An anonymous session is nobody's.
  const c = h.device()
  await c.send('/anon')
  t.ok(c.sessionCookie !== undefined)
  t.equal((await h.gateway.store.stats(h.clock.now())).live, 1, 'not counted')
})

t.test('login: { routes, auto } — listed routes and auto together', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  routes:
    - { path: /admin/login/, user: { form: username } }
  auto: true
whoami: { path: /api/me, json: /username }
` })
  const a = h.device()
  await a.formLogin('pia')
  const calls = h.app.whoamiCalls
  h.clock.advance(MIN)
  const b = h.device()
  const sso = await b.send('/sso?user=pia')
  // The SSO answer redirects: its new cookie is asked about once the browser's next request (the redirect's target) is answered.
  await b.send(String(sso.headers.location ?? '/'))
  t.equal(await a.whoami(), 401, 'the SSO login (auto) ended the form login (listed)')
  t.equal(h.app.whoamiCalls, calls + 1, 'whoami was asked only for the unlisted one')
})

t.test('unknownSessions: adopt — sessions made before the gateway are identified once, counted, and limited', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username } }
whoami: { path: /api/me, json: /username }
unknownSessions: adopt
` })
  // Two sessions of quinn that exist in the app from before the gateway.
  const before = ['older', 'newer'].map(() => {
    const id = randomBytes(16).toString('hex')
    h.app.sessions.set(id, { user: 'quinn', createdAt: Date.now() })
    return id
  })
  const d1 = h.device()
  d1.jar.set('sessionid', before[0] as string)
  t.equal(await d1.whoami(), 'quinn', 'first sight: identified and let through')
  for (let i = 0; i < 5; i++) await d1.whoami()
  t.equal(h.app.whoamiCalls, 1, 'asked once, not per request')
  h.clock.advance(MIN)
  const d2 = h.device()
  d2.jar.set('sessionid', before[1] as string)
  t.equal(await d2.whoami(), 'quinn')
  t.equal(await d1.whoami(), 401, 'the limit applies: the idlest one ended')

  const stranger = h.device()
  stranger.jar.set('sessionid', 'not-a-session-of-the-app')
  t.equal(await stranger.whoami(), 401, 'the app says nobody')
  const calls = h.app.whoamiCalls
  await stranger.whoami()
  t.equal(h.app.whoamiCalls, calls, 'a session found to be nobody\'s is not asked about again at once')
})

t.test('groups: overrides by a group read from the login', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /api/login, user: { json: /email }, group: { responseJson: /role } }
limit: 1
overrides:
  - { groups: [admin], limit: 3 }
  - { groups: [service], limit: 0 }
` })
  const admins = [h.device(), h.device(), h.device()]
  for (const d of admins) { await d.apiLogin('admin-ann'); h.clock.advance(MIN) }
  t.same(await Promise.all(admins.map(async (d) => await d.whoami())), ['admin-ann', 'admin-ann', 'admin-ann'], 'admins: 3')
  const staff = [h.device(), h.device()]
  for (const d of staff) { await d.apiLogin('bea'); h.clock.advance(MIN) }
  t.same(await Promise.all(staff.map(async (d) => await d.whoami())), [401, 'bea'], 'staff: 1')
  const bots = Array.from({ length: 5 }, () => h.device())
  for (const d of bots) await d.apiLogin('svc-ci')
  t.ok((await Promise.all(bots.map(async (d) => await d.whoami()))).every((w) => w === 'svc-ci'), 'service accounts: unlimited')
})

t.test('scopes: web logins and API logins of one user are counted apart', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username }, scope: web }
  - { path: /api/login, user: { json: /email }, scope: api }
limit: { web: 1, api: 2 }
` })
  const apiClients = [h.device(), h.device()]
  for (const d of apiClients) { await d.apiLogin('cal'); h.clock.advance(MIN) }
  const laptop = h.device()
  await laptop.formLogin('cal')
  h.clock.advance(MIN)
  const phone = h.device()
  await phone.formLogin('cal')
  t.equal(await laptop.whoami(), 401, 'web: limit 1, the earlier web session ended')
  t.same(await Promise.all(apiClients.map(async (d) => await d.whoami())), ['cal', 'cal'], 'the API sessions were not touched')
  const third = h.device()
  await third.apiLogin('cal')
  t.equal(await apiClients[0]?.whoami(), 401, 'api: limit 2, the idlest API session ended')
  t.equal(await phone.whoami(), 'cal', 'and the web session was not touched')
})

t.test('a limit per scope must name every scope the routes use', async (t) => {
  const { loadConfigText } = await import('../src/config/load.js')
  t.throws(() => loadConfigText(`upstream: http://127.0.0.1:1
session: { cookie: s }
login:
  - { path: /a, user: { form: u }, scope: web }
  - { path: /b, user: { form: u } }
limit: { web: 1, mobile: 2 }
`, 'x.yaml', {}), /no limit for scope "default"[\s\S]*no login route has scope "mobile"/)
})
