import t from 'tap'
import { exportJWK, generateKeyPair } from 'jose'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { rawRequest } from './helpers/raw.js'
import type { Device } from './helpers/client.js'

const MIN = 60_000
const HOUR = 60 * MIN

t.test('jwt: a token that verifies against the JWKS file names its user', async (t) => {
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const dir = t.testdir({})
  const file = join(dir, 'jwks.json')
  writeFileSync(file, JSON.stringify({ keys: [{ ...await exportJWK(publicKey), alg: 'RS256', kid: 'k1' }] }))
  const h = await startHarness(t, {
    appOptions: { jwtKey: { key: privateKey, alg: 'RS256', kid: 'k1' } },
    yaml: `session: { cookie: sessionid }\nlogin:\n  - { path: /jwt/login, user: { jwt: { cookie: token, jwks: "${file}" } } }\n`
  })
  const a = h.device()
  t.equal((await a.send('/jwt/login', { form: { username: 'rsa-user', password: 'x' } })).status, 302)
  t.equal((await h.gateway.store.sessionsOf('rsa-user', h.clock.now())).length, 1, 'counted for the token\'s subject: ' + h.logs.slice(-3).join(' '))
})

t.test('a failed login that looks like a success counts for nothing when a whoami can confirm it', async (t) => {
  const route = '  - { path: /fake-login, user: { form: username } }\n  - { path: /admin/login/, user: { form: username } }\n'
  const confirmed = await startHarness(t, { yaml: `session: { cookie: sessionid }\nlogin:\n${route}whoami: { path: /api/me, json: /username }\n` })
  const victim = confirmed.device()
  await victim.formLogin('vic')
  const attacker = confirmed.device()
  const r = await attacker.send('/fake-login', { form: { username: 'vic', password: 'guess' } })
  t.equal(r.status, 302, 'the app\'s answer passes (it is the app\'s failure page)')
  t.equal(await victim.whoami(), 'vic', 'the victim\'s session was not ended')
  t.equal((await confirmed.gateway.store.sessionsOf('vic', confirmed.clock.now())).length, 1)
})

t.test('failureRedirect matches the path exactly: a steered success redirect is still a login', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /admin/login/, user: { form: username }, failureRedirect: /admin/login/ }\nlimit: 1\n' })
  const a = h.device()
  await a.send('/admin/login/', { form: { username: 'ste', password: 'x', next: '/ADMIN/LOGIN/' } })
  h.clock.advance(MIN)
  const b = h.device()
  await b.send('/admin/login/', { form: { username: 'ste', password: 'x', next: '/admin/login.json' } })
  t.equal(await a.whoami(), 401, 're-spelled failure paths are successes: both logins counted')
  t.equal((await h.gateway.store.sessionsOf('ste', h.clock.now())).length, 1)
})

t.test('whoami on a login route that says nobody signed in: not counted, and not refused either', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /fake-login, user: { whoami: { path: /api/me, json: /username } } }\n' })
  const d = h.device('browser')
  const r = await d.send('/fake-login', { form: { username: 'x' } })
  t.equal(r.status, 302, 'the app\'s own answer')
  t.equal(r.headers.location, '/')
  t.equal((await h.gateway.store.stats(h.clock.now())).live, 0)
})

t.test('whoami with group on a login route gives the login its group', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /api/login, user: { whoami: { path: /api/me, json: /username, group: /role } } }
overrides: [{ groups: [admin], limit: 2 }]
` })
  const a = h.device()
  const b = h.device()
  await a.apiLogin('admin-zed')
  h.clock.advance(MIN)
  await b.apiLogin('admin-zed')
  t.same([await a.whoami(), await b.whoami()], ['admin-zed', 'admin-zed'], 'admins may have 2')
})

t.test('an idle session that comes back is judged by its own scope and group', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /api/login, user: { json: /email }, group: { responseJson: /role }, scope: api }
limit: { api: 1 }
overrides: [{ groups: [admin], limit: { api: 3 } }]
` })
  const devices = [h.device(), h.device(), h.device()]
  for (const d of devices) { await d.apiLogin('admin-ida'); h.clock.advance(MIN) }
  h.clock.advance(3 * HOUR)
  t.same(await Promise.all(devices.map(async (d) => await d.whoami())), ['admin-ida', 'admin-ida', 'admin-ida'], 'all three come back: still an admin in scope api')
})

t.test('login: auto — signing in as someone else on a device that had a session is a login, not a rotation', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin: auto\nwhoami: { path: /api/me, json: /username }\n' })
  // Each SSO answer redirects; a browser follows it, and the new cookie is asked about after that request (issue #17).
  const sso = async (d: Device, user: string): Promise<void> => {
    const r = await d.send(`/sso?user=${user}`)
    await d.send(String(r.headers.location ?? '/'))
  }
  const boss = h.device()
  await sso(boss, 'boss')
  h.clock.advance(MIN)
  const other = h.device()
  await sso(other, 'temp')
  await sso(other, 'boss')
  t.equal(await other.whoami(), 'boss')
  t.equal(await boss.whoami(), 401, 'the second boss login ended the first')
  t.same(await h.gateway.store.sessionsOf('temp', h.clock.now()), [], 'temp\'s session on that device is over')
})

t.test('user names are compared after Unicode NFKC: ａlice is alice', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  h.clock.advance(MIN)
  await h.device().formLogin('ａlice')
  t.equal(await a.whoami(), 401)
})

t.test('whoami answers that are not a plain "nobody" are asked again', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login: [{ path: /admin/login/, user: { form: username } }]
whoami: { path: /status/500, json: /username }
unknownSessions: adopt
` })
  const d = h.device()
  d.jar.set('sessionid', 'some-unknown-session')
  await d.send('/status/200')
  await d.send('/status/200')
  t.equal(h.app.whoamiCalls, 2, 'an app error is not remembered as "nobody"')
})

t.test('adoption waits for logout and login routes: logging out an unknown session ends nothing else', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}whoami: { path: /api/me, json: /username }\nunknownSessions: adopt\n` })
  const laptop = h.device()
  await laptop.formLogin('lee')
  const old = h.device()
  const { randomBytes } = await import('node:crypto')
  const id = randomBytes(16).toString('hex')
  h.app.sessions.set(id, { user: 'lee', createdAt: Date.now() })
  old.jar.set('sessionid', id)
  await old.send('/admin/logout/', { method: 'POST' })
  t.equal(await laptop.whoami(), 'lee')
})

t.test('at most one unknown session per request is asked about', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}whoami: { path: /api/me, json: /username }\nunknownSessions: adopt\n` })
  const cookie = Array.from({ length: 6 }, (_, i) => `sessionid=made-up-${i}`).join('; ')
  await h.device().send('/status/200', { headers: { cookie } })
  t.equal(h.app.whoamiCalls, 1)
})

t.test('a login answer that breaks while read gets a 502, and its cookie does not reach the client', async (t) => {
  const h = await startHarness(t, { yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /broken-login, user: { responseJson: /user } }\n' })
  const r = await request(`${h.base}/broken-login`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })
  t.equal(r.statusCode, 502)
  t.equal(r.headers['set-cookie'], undefined)
  await r.body.dump()
})

t.test('a client cannot pass itself off as the gateway asking whoami', async (t) => {
  const h = await startHarness(t)
  const r = await rawRequest(h.base, 'GET /echo HTTP/1.1\r\nHost: x\r\nX-Sessioncap-Whoami: 1\r\nConnection: close\r\n\r\n')
  t.notMatch(r.body, /x-sessioncap-whoami/i)
  t.equal(h.app.whoamiCalls, 0)
})

t.test('configuration: groups from the request body, odd whoami paths, bad JWKS files, odd preset names', async (t) => {
  const { loadConfigText } = await import('../src/config/load.js')
  const base = 'upstream: http://127.0.0.1:1\nsession: { cookie: s }\n'
  const problems = (text: string): string => { try { loadConfigText(text, 'x.yaml', {}); return '' } catch (err) { return (err as Error).message } }
  t.match(problems(`${base}login: [{ path: /l, user: { form: u }, group: { form: role } }]\n`), /login\[0\]\.group\.form: a group read from the request body is the client's to choose/)
  t.match(problems(`${base}login: [{ path: /l, user: { form: u }, group: { json: /role } }]\n`), /login\[0\]\.group\.json/)
  t.equal(problems(`${base}login: [{ path: /l, user: { form: u }, group: { header: X-Role } }]\n`), '', 'a header (set by an authenticating proxy) is allowed')
  t.match(problems(`${base}login: auto\nwhoami: { path: //evil.example/x, json: /u }\n`), /whoami\.path: expected the path of a page/)
  const dir = t.testdir({ 'bad.json': 'not json', 'empty.json': '{"keys":[]}' })
  t.match(problems(`${base}login: [{ path: /l, user: { jwt: { cookie: t, jwks: "${join(dir, 'bad.json')}" } } }]\n`), /not a JWKS document/)
  t.match(problems(`${base}login: [{ path: /l, user: { jwt: { cookie: t, jwks: "${join(dir, 'empty.json')}" } } }]\n`), /not a JWKS document/)
  for (const name of ['constructor', 'toString', '__proto__']) t.match(problems(`${base}login: [{ path: /l, user: { form: u } }]\npreset: ${name}\n`), /preset: no preset "(constructor|toString|__proto__)"/, name)
})
