import t, { type Test } from 'tap'
import { connect } from 'node:net'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { startLegacyApp } from './fixtures/legacy-app.mjs'

// /healthz and /readyz: for load balancers and Kubernetes, without the admin
// token (they say nothing but ok or not), on the admin listener and, with
// pages.health, on the proxied port. readyz is 503 while the store is away
// under fail-closed, and from the moment the gateway starts to stop.

const TOKEN = 'admin-token-for-probe-tests-0123'
const ADMIN = `admin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }\n`
const DEADLINE_MS = 30_000

interface Probe { status: number, body: unknown, cacheControl: unknown, contentType: unknown }

async function probe (url: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Probe> {
  // A connection of its own each time, as a load balancer's probe would make.
  const res = await request(url, { method, headers: { ...headers, connection: 'close' }, reset: true })
  const text = await res.body.text()
  return { status: res.statusCode, body: text === '' ? undefined : JSON.parse(text) as unknown, cacheControl: res.headers['cache-control'], contentType: res.headers['content-type'] }
}

async function until (what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

function adminOf (h: Harness): string {
  return h.gateway.adminAddress() ?? ''
}

const OK = { status: 'ok' }

t.test('the probes answer without the token; every other admin call still needs it', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}${ADMIN}` })
  const admin = adminOf(h)
  for (const path of ['/healthz', '/readyz']) {
    const r = await probe(`${admin}${path}`)
    t.equal(r.status, 200, `${path}: 200 without a token`)
    t.same(r.body, OK)
    t.equal(r.cacheControl, 'no-store', `${path}: never cached`)
    t.match(r.contentType, /^application\/json/)
    t.equal((await probe(`${admin}${path}`, { authorization: 'Bearer wrong-token-wrong-token' })).status, 200, `${path}: a wrong token does not matter either`)
    t.equal((await probe(`${admin}${path}`, {}, 'HEAD')).status, 200, `${path}: HEAD too`)
  }
  for (const [method, path] of [['GET', '/metrics'], ['GET', '/users/alice/sessions'], ['GET', '/sessions?over-limit=true'], ['DELETE', '/sessions/x'], ['POST', '/sweep'], ['GET', '/healthz/x'], ['GET', '/readyzz']] as const) {
    const r = await request(`${admin}${path}`, { method })
    t.equal(r.statusCode, 401, `${method} ${path}: 401 without the token`)
    await r.body.dump()
  }
  // Without pages.health the proxied port has none: the prefix is the gateway's (404), the rest the app's.
  const plain = await request(`${h.base}/.sessioncap/readyz`)
  t.equal(plain.statusCode, 404, 'the pages\' 404')
  await plain.body.dump()
  const before = h.app.requests
  const app = await request(`${h.base}/healthz`)
  t.equal(app.statusCode, 404, '/healthz on the proxied port is the app\'s own')
  await app.body.dump()
  t.equal(h.app.requests, before + 1)
})

t.test('pages.health: the probes on the proxied port too, under the pages prefix', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { prefix: /_gw/, health: true }\n` })
  const before = h.app.requests
  for (const path of ['/_gw/healthz', '/_gw/readyz']) {
    const r = await probe(`${h.base}${path}`)
    t.equal(r.status, 200, path)
    t.same(r.body, OK)
    t.equal(r.cacheControl, 'no-store')
  }
  t.equal(h.app.requests, before, 'the app never saw them')
  t.equal(h.gateway.adminAddress(), undefined, 'no admin API needed for them')
})

t.test('readyz is 503 while Redis is down under fail-closed, on both ports, and ready again when it is back; fail-open stays ready', async (t) => {
  const redis = await startRedis(t)
  const prefix = freshPrefix()
  const store = (onError: string): string => `secret: ${TEST_SECRET}\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}", onError: ${onError} }\n`
  const closed = await startHarness(t, { realClock: true, yaml: `${APP_ROUTES}${ADMIN}${store('fail-closed')}pages: { health: true }\n` })
  const open = await startHarness(t, { realClock: true, app: closed.app, yaml: `${APP_ROUTES}${ADMIN}${store('fail-open')}` })
  const ready = async (h: Harness, where: 'admin' | 'proxy'): Promise<Probe> => await probe(where === 'admin' ? `${adminOf(h)}/readyz` : `${h.base}/.sessioncap/readyz`)

  t.same((await ready(closed, 'admin')).body, OK)
  t.same((await ready(closed, 'proxy')).body, OK)
  await redis.kill()

  for (const where of ['admin', 'proxy'] as const) {
    const r = await ready(closed, where)
    t.equal(r.status, 503, `fail-closed, ${where}: not ready`)
    t.same(r.body, { status: 'unavailable', reason: 'store' }, 'only why, no details (no token was needed to ask)')
    t.equal(r.cacheControl, 'no-store')
  }
  t.same(await probe(`${adminOf(closed)}/healthz`), { status: 200, body: OK, cacheControl: 'no-store', contentType: 'application/json; charset=utf-8' }, 'alive all the same')
  const failOpen = await ready(open, 'admin')
  t.equal(failOpen.status, 200, 'fail-open keeps proxying through the outage: ready')

  await redis.start()
  await until('fail-closed is ready again once Redis is back', async () => (await ready(closed, 'admin')).status === 200)
  t.same((await ready(closed, 'proxy')).body, OK)
})

t.test('once stopping: readyz says shutdown, healthz still ok, everything else 503', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}${ADMIN}pages: { health: true }\n` })
  h.gateway.readiness.stop()
  for (const url of [`${adminOf(h)}/readyz`, `${h.base}/.sessioncap/readyz`]) {
    const r = await probe(url)
    t.equal(r.status, 503, url)
    t.same(r.body, { status: 'unavailable', reason: 'shutdown' })
  }
  t.equal((await probe(`${adminOf(h)}/healthz`)).status, 200)
  const before = h.app.requests
  const proxied = await request(`${h.base}/`)
  t.equal(proxied.statusCode, 503)
  t.equal(await proxied.body.text(), 'the gateway is shutting down (SESSIONCAP_ERR_SHUTTING_DOWN)\n')
  t.equal(h.app.requests, before, 'nothing reaches the app')
  const call = await request(`${adminOf(h)}/users/alice/sessions`, { headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(call.statusCode, 503, 'nor an admin call')
  await call.body.dump()
})

async function refusesConnections (base: string): Promise<boolean> {
  const url = new URL(base)
  return await new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname)
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code === 'ECONNREFUSED') })
  })
}

t.test('SIGTERM: from the first moment readyz says shutdown, while a slow request finishes', async (t: Test) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const gw = await startGatewayProcess(t, `upstream: ${app.url}\nshutdownTimeout: 10m\n${APP_ROUTES}${ADMIN}`)
  const admin = gw.adminBase as string
  t.same((await probe(`${admin}/readyz`)).body, OK)

  const before = app.requests
  const slow = request(`${gw.base}/slow?ms=600000`).then(() => 'answered', () => 'cut')
  await until('the slow request reached the app', async () => app.requests > before)
  const mark = gw.output().length
  gw.child.kill('SIGTERM')
  await gw.waitFor(/stopping: refusing new connections/, mark)

  const r = await probe(`${admin}/readyz`)
  t.equal(r.status, 503, 'not ready while the request in flight finishes')
  t.same(r.body, { status: 'unavailable', reason: 'shutdown' })
  t.equal(r.cacheControl, 'no-store')
  t.same((await probe(`${admin}/healthz`)).body, OK, 'still alive')
  await until('the proxied port refuses new connections', async () => await refusesConnections(gw.base))
  t.equal(gw.child.exitCode, null, 'still waiting for the slow request')

  // A second SIGTERM stops waiting; the admin API goes with the rest.
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.equal(await slow, 'cut')
  t.ok(await refusesConnections(admin), 'the admin API has stopped too')
})
