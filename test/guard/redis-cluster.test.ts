import t from 'tap'
import type { Test } from 'tap'
import { RedisGuardStore } from '../../src/guard/redis/redis-guard.js'
import type { GuardStore } from '../../src/guard/guard.js'
import { LoginGuard } from '../../src/guard/login-guard.js'
import { guardRules } from '../../src/guard/rules.js'
import { startCluster } from '../helpers/redis.js'
import { freshPrefix, redisStoreConfig } from '../helpers/redis-config.js'
import { guardConfig, guardContract, T0, TEST_SECRET } from './contract.js'
import { alternating } from './alternating.js'

const cluster = await startCluster(t)
const nodes = cluster.nodes.map((n) => `  - { host: ${n.host}, port: ${n.port} }`).join('\n')

async function connect (t: Test, prefix = freshPrefix()): Promise<RedisGuardStore> {
  const store = await RedisGuardStore.connect({ store: { ...redisStoreConfig(`cluster:\n${nodes}`, 'commandTimeout: 5s'), keyPrefix: prefix }, events: { warn: () => {} } })
  t.teardown(async () => { await store.close() })
  return store
}

// Every step's keys share the guard's hash tag: without it, a script touching
// a user's and a network's counters would fail with CROSSSLOT here.
guardContract(t, 'redis cluster, two gateways', async (t) => {
  const prefix = freshPrefix()
  return alternating([await connect(t, prefix), await connect(t, prefix)])
})

t.test('redis cluster: 500 attempts at once for one user through two store instances: exactly the threshold is allowed', async (t) => {
  const prefix = freshPrefix()
  const stores = [await connect(t, prefix), await connect(t, prefix)]
  const guards = stores.map((store) => new LoginGuard({ store, secrets: [TEST_SECRET], rules: guardRules(guardConfig()), ipv6Prefix: 64 }))
  for (const [what, address, threshold] of [['one network', () => '203.0.113.7', 5], ['500 networks', (i: number) => `10.1.${i >> 8}.${i & 255}`, 20]] as const) {
    const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => await (guards[i % 2] as LoginGuard).attempt({ user: `alice-${what}`, caseInsensitive: false, address: address(i), now: T0 })))
    t.equal(results.filter((r) => r.allowed).length, threshold, `${what}: ${threshold} of 500`)
  }
  const keysPerNode = cluster.servers.map((s) => s.cli('--scan', '--pattern', `${prefix}*`).trim().split('\n').filter(Boolean).length)
  t.equal(keysPerNode.filter((n) => n > 0).length, 1, `the guard's keys sit on one master, under one hash tag: ${keysPerNode.join(', ')}`)
})

t.test('redis cluster: a store of the pair answers while the other is closed (no state kept in a gateway)', async (t) => {
  const prefix = freshPrefix()
  const [a, b] = [await connect(t, prefix), await connect(t, prefix)] as [GuardStore, GuardStore]
  const rules = guardRules(guardConfig())
  for (let i = 0; i < 5; i++) {
    const r = await a.charge({ id: `x${i}`, user: 'u', network: 'n', device: false, now: T0, rules })
    if (r.allowed) await a.settle(r.ticket, 'failure', T0, rules)
  }
  await a.close()
  t.match(await b.charge({ id: 'y', user: 'u', network: 'n', device: false, now: T0 + 1, rules }), { allowed: false, blocked: true })
  t.equal((await b.blocks(T0 + 1, 10)).total, 1)
})
