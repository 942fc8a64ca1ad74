import t from 'tap'
import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

const FORM = 'application/x-www-form-urlencoded'

t.test('a login whose user cannot be read is refused by default, and the app\'s session is ended', async (t) => {
  // The operator named the wrong field: the app reads "username", the gateway looks for "login".
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: login } }
` })
  const d = h.device()
  const r = await d.formLogin('alice')
  t.equal(r.status, 401)
  t.same(r.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'login_not_identified' })
  t.equal(d.sessionCookie, undefined, 'the new cookie never reaches the client')
  t.ok(h.logs.some((l) => /login refused: the app signed someone in, but the user could not be read/.test(l) && /form field \\"login\\"/.test(l)), 'the log says why and where to look')
  const created = [...h.app.sessions.keys()]
  t.equal(created.length, 1, 'the app did create a session')
  const thief = h.device()
  thief.jar.set('sessionid', created[0] as string)
  t.equal(await thief.whoami(), 401, 'which is refused at the gateway')
})

t.test('unidentified: pass lets such a login through, uncounted, with a warning', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: login }, unidentified: pass }
` })
  const d = h.device()
  t.equal((await d.formLogin('alice')).status, 302)
  t.equal(await d.whoami(), 'alice')
  t.equal((await h.gateway.store.stats(h.clock.now())).live, 0)
  t.ok(h.logs.some((l) => /could not be read; not counted \(unidentified: pass\)/.test(l)))
})

t.test('the login guard counts attempts whose user cannot be read, by their network, and gives their successes no device cookie', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: login }, unidentified: pass }
` })
  const signedIn = await h.device().formLogin('alice')
  t.equal(signedIn.status, 302, 'a success naming nobody the gateway reads (unidentified: pass)')
  t.notOk(signedIn.setCookies.some((c) => c.startsWith('sessioncap_device=')), 'gets no device cookie: it would name nobody')
  const before = h.app.loginPosts
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) statuses.push((await h.device().formLogin('alice', 'wrong')).status)
  t.same(statuses, [200, 200, 200, 200, 200, 429, 429], 'five failures reach the app (its form again), then the guard answers')
  t.equal(h.app.loginPosts - before, 5, 'the app saw five')
  t.ok(h.logs.some((l) => l.includes('"msg":"login attempt refused: too many failures"') && l.includes('"refusedBy":["userNetwork"]')), 'refused by the network\'s count of attempts naming nobody')
})

t.test('a route that reads its user from the answer is no attempt to guard, even when its group comes from the request', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /api/login, user: { responseHeader: x-logged-in-user }, group: { header: X-Role } }
` })
  const statuses: number[] = []
  for (let i = 0; i < 7; i++) statuses.push((await h.device().send('/api/login', { json: { email: 'bob@example.com', password: 'wrong' }, headers: { 'x-role': 'staff' } })).status)
  t.same(statuses, [401, 401, 401, 401, 401, 401, 401], 'every failure reaches the app, as without a group')
  const ok = h.device()
  t.equal((await ok.send('/api/login', { json: { email: 'bob@example.com', password: 'secret' }, headers: { 'x-role': 'staff' } })).status, 200)
  t.equal((await h.gateway.store.sessionsOf('bob@example.com', h.clock.now())).length, 1, 'and its login is counted for the user its answer names')
})

t.test('a gzip-compressed login body is read like the app reads it', async (t) => {
  const h = await startHarness(t)
  const r = await request(`${h.base}/admin/login/`, {
    method: 'POST',
    body: gzipSync('username=alice&password=x'),
    headers: { 'content-type': FORM, 'content-encoding': 'gzip' }
  })
  await r.body.dump()
  t.equal(r.statusCode, 302, 'the app got the compressed body as sent, and signed alice in')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'counted for alice')
})

t.test('encodings: undone for reading when known, at most two layers', async (t) => {
  const { decodedBody } = await import('../src/identity/body-text.js')
  const body = gzipSync('username=alice')
  t.equal(decodedBody(body, { 'content-encoding': 'gzip' }, 1024)?.toString(), 'username=alice')
  t.equal(decodedBody(gzipSync(body), { 'content-encoding': 'gzip, gzip' }, 1024)?.toString(), 'username=alice')
  t.equal(decodedBody(gzipSync(gzipSync(body)), { 'content-encoding': 'gzip, gzip, gzip' }, 1024), undefined, 'three layers: not read')
  t.equal(decodedBody(body, { 'content-encoding': 'x-custom' }, 1024), undefined, 'unknown: not read')
  t.equal(decodedBody(gzipSync(Buffer.alloc(100_000)), { 'content-encoding': 'gzip' }, 1024), undefined, 'inflating past the bound: not read')
})

t.test('a JSON login with a byte-order mark is read', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /echo, user: { json: /email }, status: [200] }
` })
  const route = h.gateway.context.routes.login('POST', '/echo')
  const { identify } = await import('../src/identity/index.js')
  t.same(identify(route!.identity, { headers: {}, query: '', body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"email":"bom@example.com"}')]) }, false), { kind: 'user', user: 'bom@example.com' })
  t.same(identify(route!.identity, { headers: {}, query: '', body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"email":"u16"}', 'utf16le')]) }, false), { kind: 'user', user: 'u16' })
})

t.test('login routes are recognised end to end under other spellings of their path', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 0\n` })
  const spellings = ['/admin/login', '/ADMIN/Login/', '/admin//login/', '/admin/%6Cogin/', '/admin/login;x=1', '/admin/login.json', '/admin/login/.json', '/admin/login/?next=/']
  for (const path of spellings) {
    const d = h.device()
    const r = await d.send(path, { form: { username: 'alice', password: 'x' } })
    t.equal(r.status, 302, `${path}: the app signed alice in`)
    t.equal(await d.whoami(), 'alice')
  }
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, spellings.length, 'every one was counted')
})

t.test('a GET login route reads the user from the query, and HEAD counts like GET', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { method: GET, path: /sso, user: { form: user } }
limit: 0
` })
  const get = await request(`${h.base}/sso?user=bob`)
  await get.body.dump()
  t.equal(get.statusCode, 302)
  const head = await request(`${h.base}/sso?user=bob`, { method: 'HEAD' })
  await head.body.dump()
  t.equal(head.statusCode, 302)
  t.equal((await h.gateway.store.sessionsOf('bob', h.clock.now())).length, 2)
})

t.test('a login answered with a status the route does not accept is not counted, and says so once', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /api/login, user: { json: /email }, status: [201] }
` })
  for (let i = 0; i < 3; i++) t.equal((await h.device().apiLogin('carol')).status, 200)
  t.equal((await h.gateway.store.stats(h.clock.now())).live, 0)
  t.equal(h.logs.filter((l) => /an answer it does not accept as a login/.test(l)).length, 1, 'one warning, not one per login')
})

t.test('an answer that sets the new session cookie and clears an old one elsewhere is a login', async (t) => {
  const h = await startHarness(t, { appOptions: { loginExtraSetCookies: ['sessionid=; Path=/legacy; Max-Age=0'] } })
  const d = h.device()
  await d.formLogin('alice')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1)
})

t.test('a body crafted to read as one user to the gateway and another to the app is refused as ambiguous', async (t) => {
  const h = await startHarness(t)
  const before = h.app.requests
  const bodies: Array<{ what: string, body: Buffer, headers: Record<string, string> }> = [
    {
      what: 'UTF-16 with a BOM, then plain bytes',
      body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('username=bob&password=x', 'utf16le'), Buffer.from('&username=alice&password=x')]),
      headers: { 'content-type': FORM }
    },
    {
      what: 'gzip whose file name field says another user',
      body: (() => {
        const z = gzipSync('username=nobody1&password=x')
        // Set FNAME and splice a name in after the 10-byte header.
        z[3] = (z[3] as number) | 0x08
        return Buffer.concat([z.subarray(0, 10), Buffer.from('&username=alice&\0'), z.subarray(10)])
      })(),
      headers: { 'content-type': FORM, 'content-encoding': 'gzip' }
    },
    {
      what: 'JSON with a form-looking string inside',
      body: Buffer.from('{"username":"nobody2","z":"&username=alice&password=x"}'),
      headers: { 'content-type': 'application/json' }
    }
  ]
  for (const { what, body, headers } of bodies) {
    const r = await request(`${h.base}/admin/login/`, { method: 'POST', body, headers })
    t.equal(r.statusCode, 400, what)
    t.match(await r.body.text(), /SESSIONCAP_ERR_LOGIN_USER_AMBIGUOUS/)
  }
  t.equal(h.app.requests, before, 'none reached the app')
})

t.test('a new session cookie on a login route answered with an unaccepted status still follows its session', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username }, status: [303] }
  - { path: /api/login, user: { json: /email } }
` })
  const d = h.device()
  await d.apiLogin('dora')
  // The form login answers 302, which this route does not accept: not a login, but the cookie changed.
  await d.formLogin('dora')
  t.equal(await d.whoami(), 'dora')
  t.match(await h.gateway.store.check(h.gateway.context.hash(d.sessionCookie as string), h.clock.now()), { state: 'live' }, 'the new cookie is tracked as the same session')
  t.equal((await h.gateway.store.sessionsOf('dora', h.clock.now())).length, 1)
})
