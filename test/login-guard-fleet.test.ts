import t, { type Test } from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { startCluster, startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'

/**
 * No more attempts than a threshold ever reach the app, however many race,
 * on however many gateways (issue #14): 500 wrong passwords for one user,
 * fired at once, half through each of two gateways sharing one Redis
 * (standalone, then a Cluster), and all through one gateway on the memory
 * store. The app counts what reaches it.
 */
const BURST = 500

async function burst (gateways: Harness[], user: string): Promise<number[]> {
  return await Promise.all(Array.from({ length: BURST }, async (_, i) => {
    const base = (gateways[i % gateways.length] as Harness).base
    const r = await request(`${base}/admin/login/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: `username=${user}&password=wrong`
    })
    await r.body.dump()
    return r.statusCode
  }))
}

async function twoGateways (t: Test, store: string): Promise<Harness[]> {
  const first = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: ${store}\n` })
  const second = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: ${store}\n`, app: first.app })
  second.clock.t = first.clock.t
  return [first, second]
}

function check (t: Test, h: Harness, before: number, statuses: number[]): void {
  t.equal(h.app.loginPosts - before, 5, `exactly 5 of ${BURST} reached the app`)
  t.equal(statuses.filter((s) => s === 200).length, 5, 'and were answered by it (its form again)')
  t.equal(statuses.filter((s) => s === 429).length, BURST - 5, 'every other one was refused at the gateway')
}

t.test('memory store: one gateway', async (t) => {
  const h = await startHarness(t)
  const before = h.app.loginPosts
  check(t, h, before, await burst([h], 'alice'))
})

t.test('two gateways on one standalone Redis', async (t) => {
  const redis = await startRedis(t, { persistent: false })
  const gateways = await twoGateways(t, `{ type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}" }`)
  const before = (gateways[0] as Harness).app.loginPosts
  check(t, gateways[0] as Harness, before, await burst(gateways, 'alice'))
})

t.test('two gateways on a Redis Cluster', async (t) => {
  const cluster = await startCluster(t)
  const nodes = cluster.nodes.map((n) => `{ host: ${n.host}, port: ${n.port} }`).join(', ')
  const gateways = await twoGateways(t, `{ type: redis, cluster: [${nodes}], keyPrefix: "${freshPrefix()}" }`)
  const before = (gateways[0] as Harness).app.loginPosts
  check(t, gateways[0] as Harness, before, await burst(gateways, 'alice'))
})
