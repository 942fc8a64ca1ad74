import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { startCluster, startSentinel } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'
import type { Device } from './helpers/client.js'

t.test('Redis Cluster: admission is atomic across gateways, and ending is seen everywhere', async (t) => {
  const cluster = await startCluster(t)
  const nodes = cluster.nodes.map((n) => `{ host: ${n.host}, port: ${n.port} }`).join(', ')
  const yaml = `${APP_ROUTES}secret: ${TEST_SECRET}\nlimit: 2\nstore: { type: redis, cluster: [${nodes}], keyPrefix: "${freshPrefix()}" }\n`
  const a = await startHarness(t, { yaml, realClock: true })
  const b = await startHarness(t, { yaml, realClock: true, app: a.app })

  // Users land on different slots (different masters): the per-user hash tag keeps each script on one.
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    const devices: Device[] = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).device())
    await Promise.all(devices.map(async (d) => await d.formLogin(user)))
    t.equal((await a.gateway.store.sessionsOf(user, Date.now())).length, 2, `${user}: exactly 2 of 20 simultaneous logins recorded`)
    // Asked through the gateway each device did not log in through (it has nothing cached about it).
    const working = (await Promise.all(devices.map(async (d, i) => {
      const other = (i % 2 === 0 ? b : a).device()
      other.jar.set('sessionid', d.sessionCookie ?? '')
      return await other.whoami()
    }))).filter((w) => w === user).length
    t.equal(working, 2, `${user}: and exactly 2 work`)
  }
  const keysPerNode = cluster.servers.map((s) => Number(s.cli('dbsize').trim()))
  t.ok(keysPerNode.filter((n) => n > 0).length >= 2, `keys spread over the masters: ${keysPerNode.join(', ')}`)

  const laptop = a.device()
  await laptop.formLogin('erin')
  const viaB = b.device()
  viaB.jar.set('sessionid', laptop.sessionCookie as string)
  t.equal(await viaB.whoami(), 'erin')
  await a.device().formLogin('erin')
  await a.device().formLogin('erin')
  t.equal(await viaB.whoami(), 401, 'ended through A, refused by B')
})

t.test('Redis Sentinel: the gateway finds the master through the Sentinel and enforces the limit', async (t) => {
  const sentinel = await startSentinel(t)
  const sentinels = sentinel.sentinels.map((n) => `{ host: ${n.host}, port: ${n.port} }`).join(', ')
  const yaml = `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: redis, sentinels: [${sentinels}], name: ${sentinel.name}, keyPrefix: "${freshPrefix()}" }\n`
  const h = await startHarness(t, { yaml, realClock: true })
  const laptop = h.device()
  await laptop.formLogin('alice')
  await h.device().formLogin('alice')
  t.equal(await laptop.whoami(), 401)
  t.ok(Number(sentinel.master.cli('dbsize').trim()) > 0, 'the data is on the master the Sentinel named')
})
