import t, { type Test } from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { loadConfigText } from '../src/config/load.js'
import type { Device } from './helpers/client.js'

/** The admin API over real HTTP, on its own listener beside the proxy. */
const TOKEN = 'admin-token-for-tests-0123456789'
const ADMIN = `admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }\n`

interface Call { status: number, json: () => any, text: string } // eslint-disable-line @typescript-eslint/no-explicit-any -- test answers are inspected loosely

async function call (h: Harness, method: string, path: string, opts: { token?: string | null, body?: unknown } = {}): Promise<Call> {
  const headers: Record<string, string> = {}
  const token = opts.token === undefined ? TOKEN : opts.token
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(`${h.gateway.adminAddress() ?? ''}${path}`, { method: method as 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const text = await res.body.text()
  // eslint-disable-next-line @typescript-eslint/no-unsafe-return -- test answers are inspected loosely
  return { status: res.statusCode, text, json: () => JSON.parse(text) }
}

async function signedIn (h: Harness, user: string, n: number): Promise<Device[]> {
  const devices: Device[] = []
  for (let i = 0; i < n; i++) {
    const d = h.device('browser')
    await d.formLogin(user)
    h.clock.advance(60_000)
    devices.push(d)
  }
  return devices
}

async function admin (t: Test, yaml = ''): Promise<Harness> {
  return await startHarness(t, { yaml: `${APP_ROUTES}${ADMIN}${yaml}` })
}

t.test('every call but the probes needs the token; the proxied port has no admin API', async (t) => {
  const h = await admin(t)
  t.not(h.gateway.adminAddress(), h.base, 'a listener of its own')
  for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
    const r = await call(h, 'GET', '/users/alice/sessions', { token })
    t.equal(r.status, 401, `token ${String(token)} refused`)
    t.equal(r.json().code, 'SESSIONCAP_ERR_ADMIN_UNAUTHORIZED')
  }
  const basic = await request(`${h.gateway.adminAddress() ?? ''}/users/alice/sessions`, { headers: { authorization: `Basic ${TOKEN}` } })
  t.equal(basic.statusCode, 401, 'only a bearer token')
  await basic.body.dump()
  const allowed = await call(h, 'GET', '/users/alice/sessions')
  t.equal(allowed.status, 200)
  t.match(allowed.json(), { user: 'alice' })
  t.same((await call(h, 'GET', '/healthz', { token: null })).json(), { status: 'ok' }, 'the probes need none (test/probes.test.ts)')
  const onProxy = await h.device().send('/users/alice/sessions', { headers: { authorization: `Bearer ${TOKEN}` } })
  t.notMatch(onProxy.text, /"scopes"/, 'the proxied port forwards to the app as always')
  for (const [method, path] of [['DELETE', '/users/alice/sessions'], ['DELETE', '/sessions/x'], ['POST', '/sweep'], ['GET', '/metrics']]) {
    t.equal((await call(h, method as string, path as string, { token: 'wrong-token-wrong-token' })).status, 401, `${String(method)} ${String(path)} needs the token too`)
  }
  t.match(h.logs.join('\n'), /admin API: call without a valid token refused/)
})

t.test('without a token the admin API does not start, and says why', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}admin: { host: 127.0.0.1, port: 0 }\n` })
  t.equal(h.gateway.adminAddress(), undefined)
  t.match(h.logs.join('\n'), /the admin API is not started: admin.token is not set/)
  t.equal(await (await signedIn(h, 'alice', 1))[0]?.whoami(), 'alice', 'the gateway itself runs')
})

t.test('a user\'s sessions: listed by their hashed ids, never a cookie', async (t) => {
  const h = await admin(t, 'limit: 3\n')
  const devices = await signedIn(h, 'alice', 2)
  const r = await call(h, 'GET', '/users/alice/sessions')
  t.equal(r.status, 200)
  const body = r.json()
  t.equal(body.scopes.length, 1)
  t.same(body.scopes[0].sessions.map((s: { id: string }) => s.id), devices.map((d) => h.gateway.context.hash(d.sessionCookie ?? '')))
  t.match(body.scopes[0], { user: 'alice', scope: 'default', limit: 3, counting: 2 })
  t.match(body.scopes[0].sessions[0], { state: 'counting', signedInAt: '2026-01-01T00:00:00.000Z' })
  for (const d of devices) t.notMatch(r.text, d.sessionCookie ?? 'x', 'no raw cookie in the answer')
  t.same((await call(h, 'GET', '/users/nobody/sessions')).json(), { user: 'nobody', scopes: [] })
})

t.test('ending one session: it is refused on its next request, and the answer says what ended', async (t) => {
  const h = await admin(t, 'limit: 2\n')
  const [laptop, phone] = await signedIn(h, 'alice', 2) as [Device, Device]
  const cookie = laptop.sessionCookie ?? ''
  const id = h.gateway.context.hash(cookie)
  const r = await call(h, 'DELETE', `/sessions/${id}`)
  t.equal(r.status, 200)
  t.same(r.json().ended.map((s: { id: string, state: string }) => [s.id, s.state]), [[id, 'ended']])
  t.equal(await laptop.whoami(), 401, 'revoked on its next request')
  t.equal(await phone.whoami(), 'alice')
  laptop.jar.set('sessionid', cookie)
  const page = await laptop.send('/reports', { headers: { accept: 'text/html' } })
  t.equal(page.status, 303)
  t.match(page.headers.location, /\/\.sessioncap\/ended\?n=/)
  const again = await call(h, 'DELETE', `/sessions/${id}`)
  t.equal(again.status, 404, 'ending it again ends nothing: not a success')
  t.equal(again.json().code, 'SESSIONCAP_ERR_NOTHING_ENDED')
  t.equal((await call(h, 'DELETE', '/sessions/made-up')).status, 404)
})

t.test('ending a user\'s sessions, all or all but the newest N', async (t) => {
  const h = await admin(t, 'limit: 0\n')
  const devices = await signedIn(h, 'alice', 3)
  const keep = await call(h, 'DELETE', '/users/alice/sessions?keep=1')
  t.equal(keep.status, 200)
  t.equal(keep.json().ended.length, 2)
  t.same(await Promise.all(devices.map(async (d) => await d.whoami())), [401, 401, 'alice'], 'the newest sign-in is kept')
  t.equal((await call(h, 'DELETE', '/users/alice/sessions?keep=1')).status, 404, 'nothing beyond the newest one: nothing ended')
  t.equal((await call(h, 'DELETE', '/users/alice/sessions?keep=-1')).status, 400)
  const all = await call(h, 'DELETE', '/users/alice/sessions')
  t.equal(all.json().ended.length, 1)
  t.equal(await devices[2]?.whoami(), 401)
  t.equal((await call(h, 'DELETE', '/users/bob/sessions')).status, 404)
})

t.test('ending a user\'s sessions ends them in every scope, also one a reload removed from the configuration', async (t) => {
  // At first the API login has a scope of its own, with its own limit.
  const scoped = APP_ROUTES.replace('caseInsensitive: true }', 'caseInsensitive: true, scope: api }')
  t.not(scoped, APP_ROUTES, 'the API route is scoped')
  const h = await startHarness(t, { yaml: `${scoped}${ADMIN}limit: { default: 1, api: 5 }\n` })
  const [laptop] = await signedIn(h, 'alice', 1) as [Device]
  const tokens = [h.device('api'), h.device('api')]
  for (const d of tokens) t.equal((await d.apiLogin('alice')).status, 200)
  t.same((await call(h, 'GET', '/users/alice/sessions')).json().scopes.map((s: { scope: string, sessions: unknown[] }) => [s.scope, s.sessions.length]), [['default', 1], ['api', 2]])

  // The scope goes from the configuration; the sessions made under it stay, and still work.
  const { config } = loadConfigText(`upstream: ${h.app.url}\nlisten: { host: 127.0.0.1, port: 0 }\nlog: { level: debug }\n${APP_ROUTES}${ADMIN}`)
  h.gateway.reload(config)
  t.same(h.gateway.context.config.login.routes.map((r) => r.scope ?? 'default'), ['default', 'default'], 'no route names the api scope now')
  t.same(await Promise.all([laptop, ...tokens].map(async (d) => await d.whoami())), ['alice', 'alice', 'alice'], 'every session still works')
  const listed = await call(h, 'GET', '/users/alice/sessions')
  t.same(listed.json().scopes.map((s: { scope: string, sessions: unknown[] }) => [s.scope, s.sessions.length]), [['default', 1], ['api', 2]], 'the listing still shows the api sessions')

  const ended = await call(h, 'DELETE', '/users/alice/sessions')
  t.equal(ended.status, 200)
  t.same(ended.json().ended.map((s: { scope: string, state: string }) => [s.scope, s.state]), [['default', 'ended'], ['api', 'ended'], ['api', 'ended']], 'all three ended, the api ones too')
  t.same(await Promise.all([laptop, ...tokens].map(async (d) => await d.whoami())), [401, 401, 401], 'none of them works any more')
  t.same((await call(h, 'GET', '/users/alice/sessions')).json().scopes, [], 'nothing left in any scope')
  t.equal((await call(h, 'DELETE', '/users/alice/sessions')).status, 404, 'a second call finds nothing to end')
})

t.test('users over their limit after it was lowered, and the sweep that ends exactly the surplus', async (t) => {
  const h = await admin(t, 'limit: 0\npolicy: evict-oldest\n')
  const alice = await signedIn(h, 'alice', 3)
  const bob = await signedIn(h, 'bob', 1)
  const carol = await signedIn(h, 'carol', 2)
  // The limit is lowered (as a reload would do): the next logins get it, the sessions already there do not.
  h.gateway.reload({ ...h.gateway.context.config, limit: 1 })
  const over = await call(h, 'GET', '/sessions?over-limit=true')
  t.equal(over.status, 200)
  t.same(over.json().users.map((u: { user: string, counting: number }) => [u.user, u.counting]).sort(), [['alice', 3], ['carol', 2]])
  t.same((await call(h, 'GET', '/sessions?over-limit=true&max=2')).json().users.map((u: { user: string }) => u.user), ['alice'])
  t.same((await call(h, 'GET', '/sessions')).json().users.map((u: { user: string }) => u.user).sort(), ['alice', 'bob', 'carol'], 'without over-limit: everyone')
  t.equal((await call(h, 'GET', '/sessions?offset=x')).status, 400)

  const dry = await call(h, 'POST', '/sweep', { body: { dryRun: true } })
  t.equal(dry.json().ended, 3, 'a dry run says what it would end')
  t.same(await Promise.all([...alice, ...bob, ...carol].map(async (d) => await d.whoami())), ['alice', 'alice', 'alice', 'bob', 'carol', 'carol'], 'and ends nothing')

  const swept = await call(h, 'POST', '/sweep', { body: {} })
  t.equal(swept.status, 200)
  t.equal(swept.json().ended, 3)
  t.same(await Promise.all([...alice, ...bob, ...carol].map(async (d) => await d.whoami())), [401, 401, 'alice', 'bob', 401, 'carol'], 'the oldest ended (evict-oldest), one left each')
  t.equal((await call(h, 'POST', '/sweep', { body: {} })).json().ended, 0, 'a second sweep finds nothing')
  t.same((await call(h, 'GET', '/sessions?over-limit=true')).json().users, [])
  t.equal((await call(h, 'POST', '/sweep', { body: { max: 'two' } })).status, 400)
  t.equal((await call(h, 'POST', '/sweep', { body: { max: 0 } })).status, 400, 'max 0 would mean no limit: refused, not a quiet no-op')
  t.equal((await call(h, 'GET', '/sessions?over-limit=true&max=0')).status, 400)
})

t.test('sweep --max N under evict-idlest keeps the most recently used; unlimited users are left alone', async (t) => {
  const h = await admin(t, 'limit: 5\noverrides:\n  - { users: [ops-bot], limit: 0 }\n')
  const bot = await signedIn(h, 'ops-bot', 3)
  const [first, second, third] = await signedIn(h, 'alice', 3) as [Device, Device, Device]
  h.clock.advance(10_000)
  await first.whoami()
  const swept = await call(h, 'POST', '/sweep', { body: { max: 1 } })
  t.equal(swept.json().ended, 2)
  t.same([await first.whoami(), await second.whoami(), await third.whoami()], ['alice', 401, 401])
  t.same(await Promise.all(bot.map(async (d) => await d.whoami())), ['ops-bot', 'ops-bot', 'ops-bot'], 'an unlimited user is never over a max')
})

t.test('readyz does not depend on the app: an app that is down is the app\'s to report', async (t) => {
  const h = await admin(t)
  t.same((await call(h, 'GET', '/readyz')).json(), { status: 'ok' })
  await h.app.close()
  const r = await call(h, 'GET', '/readyz')
  t.equal(r.status, 200)
  t.same(r.json(), { status: 'ok' })
  t.equal((await h.device().send('/')).status, 502, 'while the gateway answers 502 for it')
})

t.test('metrics move as traffic flows', async (t) => {
  const h = await admin(t)
  const metric = async (name: string): Promise<number> => {
    const text = (await call(h, 'GET', '/metrics')).text
    const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{') ? l.split(' ')[0] === name || l.startsWith(name) : false)
    return line === undefined ? 0 : Number(line.split(' ').pop())
  }
  const before = await metric('sessioncap_requests_proxied_total')
  const [laptop] = await signedIn(h, 'alice', 1) as [Device]
  await laptop.whoami()
  await laptop.whoami()
  t.equal(await metric('sessioncap_requests_proxied_total'), before + 3, 'a login and two requests proxied')
  t.equal(await metric('sessioncap_logins_total{outcome="admitted"}'), 1)
  t.equal(await metric('sessioncap_live_sessions'), 1)
  await h.device('browser').formLogin('alice')
  t.equal(await metric('sessioncap_ended_sessions'), 1, 'the ended gauge is read at this scrape, not the one before')
  t.equal(await metric('sessioncap_ended_sessions_max'), 10_000_000, 'the bound an alert compares it with (store.maxEnded)')
  t.equal(await metric('sessioncap_logins_total{outcome="admitted"}'), 2)
  t.equal(await metric('sessioncap_sessions_ended_total{reason="concurrent_login_limit"}'), 1)
  const cookie = laptop.sessionCookie ?? ''
  await laptop.whoami()
  laptop.jar.set('sessionid', cookie)
  await laptop.whoami()
  t.equal(await metric('sessioncap_requests_refused_total{reason="concurrent_login_limit"}'), 2, 'every refused request counted')
  const text = (await call(h, 'GET', '/metrics')).text
  t.match(text, /sessioncap_store_duration_seconds_count\{operation="admit"\} [1-9]/, 'store latency measured')
  t.match(text, /sessioncap_process_resident_memory_bytes/)
  t.match(text, /# TYPE sessioncap_upstream_errors_total counter/)
  await h.app.close()
  await laptop.send('/x', { headers: { cookie: '' } })
  t.equal(await metric('sessioncap_upstream_errors_total'), 1, 'an upstream error counted')
})

t.test('login guard blocks: listed by hash, looked up by name or address, lifted by user or network; nothing to lift is a 404', async (t) => {
  const h = await admin(t, 'proxy: { trustProxy: [127.0.0.1] }\nguard: { user: { failures: 7, window: 1h } }\n')
  const fail = async (user: string, ip: string): Promise<number> => (await h.device().send('/admin/login/', { form: { username: user, password: 'wrong' }, headers: { 'x-forwarded-for': ip } })).status
  for (let i = 0; i < 5; i++) await fail('alice', '198.51.100.7')
  t.equal(await fail('alice', '198.51.100.7'), 429, 'alice is blocked from that address (5 failures there)')
  for (let i = 0; i < 2; i++) await fail('alice', '203.0.113.9')
  t.equal(await fail('alice', '192.0.2.1'), 429, 'and everywhere now (7 failures of hers in an hour)')

  const all = await call(h, 'GET', '/blocks')
  t.equal(all.status, 200)
  const listed = all.json() as { blocks: Array<{ counter: string, user?: string, network?: string, until: string, failures: number, times: number }>, total: number }
  t.same(listed.blocks.map((b) => b.counter).sort(), ['user', 'userNetwork'])
  t.notMatch(all.text, /alice|198\.51\.100/, 'hashes only, never a name or an address')
  const mine = (await call(h, 'GET', '/blocks?user=ALICE')).json() as typeof listed
  t.equal(mine.total, 2, 'found by name (as written or lower-cased)')
  t.equal((await call(h, 'GET', '/blocks?address=198.51.100.7')).json().total, 1, 'found by address: the user+network block')
  t.equal((await call(h, 'GET', '/blocks?user=bob')).json().total, 0)

  const lifted = await call(h, 'DELETE', '/blocks/users/alice')
  t.equal(lifted.status, 200)
  t.equal(lifted.json().lifted.length, 2)
  t.equal(await fail('alice', '192.0.2.1'), 200, 'alice may try again')
  const again = await call(h, 'DELETE', '/blocks/users/alice')
  t.equal(again.status, 404)
  t.equal(again.json().code, 'SESSIONCAP_ERR_NOTHING_LIFTED', 'never a false success')
  t.equal((await call(h, 'DELETE', '/blocks/networks/10.0.0.0%2F8')).json().code, 'SESSIONCAP_ERR_ADMIN_BAD_REQUEST', 'a range too wide to lift')
  t.equal((await call(h, 'DELETE', '/blocks/users/alice', { token: null })).status, 401, 'behind the token')
})
