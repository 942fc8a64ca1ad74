import t from 'tap'
import type { Test } from 'tap'
import { RedisGuardStore } from '../../src/guard/redis/redis-guard.js'
import type { GuardStore } from '../../src/guard/guard.js'
import { startRedis } from '../helpers/redis.js'
import { freshPrefix, redisStoreConfig } from '../helpers/redis-config.js'
import { LoginGuard } from '../../src/guard/login-guard.js'
import { openLoginGuard } from '../../src/guard/index.js'
import { loadConfigText } from '../../src/config/load.js'
import { guardRules } from '../../src/guard/rules.js'
import { guardConfig, guardContract, TEST_SECRET } from './contract.js'
import { alternating } from './alternating.js'

const redis = await startRedis(t, { persistent: false })

async function connect (t: Test, prefix = freshPrefix(), warn: (message: string) => void = () => {}): Promise<RedisGuardStore> {
  // A generous timeout: 500 scripts at once on a shared 2-core machine.
  const store = await RedisGuardStore.connect({ store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 5s'), keyPrefix: prefix }, events: { warn } })
  t.teardown(async () => { await store.close() })
  return store
}

guardContract(t, 'redis', async (t) => await connect(t))

guardContract(t, 'redis, two gateways', async (t) => {
  const prefix = freshPrefix()
  return alternating([await connect(t, prefix), await connect(t, prefix)])
})

const rules = guardRules(guardConfig())
const T = Date.UTC(2001, 8, 1)

t.test('redis: 500 attempts at once through two store instances on one Redis: exactly the threshold is allowed, five rounds', async (t) => {
  const prefix = freshPrefix()
  const stores = [await connect(t, prefix), await connect(t, prefix)]
  for (let round = 0; round < 5; round++) {
    const results = await Promise.all(Array.from({ length: 500 }, async (_, i) => await (stores[i % 2] as GuardStore).charge({
      id: `r${round}-${i}`, user: `user-${round}`, network: 'net', device: false, now: T, rules
    })))
    t.equal(results.filter((r) => r.allowed).length, 5, `round ${round}: 5 of 500`)
  }
})

t.test('redis: keys hold hashes only, all under one hash tag, and every key expires by itself', async (t) => {
  const prefix = freshPrefix()
  const store = await connect(t, prefix)
  const guard = new LoginGuard({ store, secrets: [TEST_SECRET], rules, ipv6Prefix: 64, deviceMaxAge: 90 * 86_400_000 })
  for (let i = 0; i < 5; i++) {
    const d = await guard.attempt({ user: 'alice@example.com', caseInsensitive: false, address: '203.0.113.7', now: T + i })
    if (d.allowed) await guard.settle(d.ticket, 'failure', T + i)
  }
  const inFlight = await guard.attempt({ user: 'bob', caseInsensitive: false, address: '198.51.100.4', now: T })
  t.ok(inFlight.allowed)
  const keys = redis.cli('--scan', '--pattern', `${prefix}*`).trim().split('\n').sort()
  // Three keys per user and network (the logins counter lives in the user's), and the index of blocks.
  t.same(keys.map((k) => k.slice(prefix.length).replace(/:[A-Za-z0-9_-]{22}/g, ':H')), ['{g}:blocks', '{g}:n:H', '{g}:n:H', '{g}:u:H', '{g}:u:H', '{g}:un:H:H', '{g}:un:H:H'])
  for (const key of keys) {
    const ttl = Number(redis.cli('pttl', key).trim())
    t.ok(ttl > 0, `${key} expires (${ttl} ms)`)
    const dump = redis.cli('--no-raw', key.endsWith('blocks') ? 'zrange' : 'hgetall', key, ...(key.endsWith('blocks') ? ['0', '-1'] : []))
    t.notOk(/alice|example|bob|203\.0|198\.51/.test(key + dump), `${key}: nothing in clear`)
  }
  t.equal(new Set(keys.map((k) => redis.cli('cluster', 'keyslot', k).trim())).size, 1, 'one slot for every guard key')
  t.ok(Number(redis.cli('pttl', keys.find((k) => k.includes(':un:')) as string).trim()) <= 86_400_000, 'a blocked key lasts its history (24 h), no longer')
})

t.test('redis: a key whose last write was a settle expires too (a settle that empties a hash makes it anew)', async (t) => {
  const prefix = freshPrefix()
  const store = await connect(t, prefix)
  const guard = new LoginGuard({ store, secrets: [TEST_SECRET], rules, ipv6Prefix: 64 })
  // One attempt each: the settle's HDEL of the charge empties every counter, its HSET of the failure makes it again.
  for (let i = 0; i < 10; i++) {
    const d = await guard.attempt({ user: `user${i}`, caseInsensitive: false, address: `192.0.2.${i}`, now: T })
    if (d.allowed) await guard.settle(d.ticket, i % 2 === 0 ? 'failure' : 'success', T)
  }
  const keys = redis.cli('--scan', '--pattern', `${prefix}*`).trim().split('\n').filter(Boolean)
  t.equal(keys.length, 5 * 3 + 5, 'five failures: three counters each; five successes: a login each (in the user\'s key)')
  const ttls = keys.map((key) => Number(redis.cli('pttl', key).trim()))
  t.ok(ttls.every((ttl) => ttl > 0), `every key expires: ${ttls.join(', ')}`)
  t.ok(ttls.every((ttl) => ttl <= 3_600_000), 'no longer than its window')
})

t.test('redis: a charge re-sent with the same id (ioredis after a reconnect) is charged once', async (t) => {
  const store = await connect(t)
  const req = { id: 'same', user: 'u', network: 'n', device: false, now: T, rules }
  t.match(await store.charge(req), { allowed: true })
  t.match(await store.charge(req), { allowed: true })
  for (let i = 0; i < 4; i++) t.match(await store.charge({ ...req, id: `other${i}` }), { allowed: true }, 'four more fit: the re-sent one took one place')
  t.match(await store.charge({ ...req, id: 'sixth' }), { allowed: false })
})

t.test('redis: the steps asked for in one turn travel together (one script call per 64), each decided alone, in the order asked, by its own rules', async (t) => {
  const store = await connect(t)
  const scriptCalls = (): number => {
    let n = 0
    for (const m of redis.cli('info', 'commandstats').matchAll(/cmdstat_(?:eval|evalsha):calls=(\d+)/g)) n += Number(m[1])
    return n
  }
  await store.ping()
  let before = scriptCalls()
  const charged = await Promise.all(Array.from({ length: 100 }, async (_, i) => await store.charge({ id: `b${i}`, user: 'batched', network: 'net', device: false, now: T, rules })))
  t.equal(scriptCalls() - before, 2, '100 charges asked at once: two script calls (64 and 36)')
  t.same(charged.map((r) => r.allowed), Array.from({ length: 100 }, (_, i) => i < 5), 'the first five asked are allowed, every later one refused (five in flight fill the threshold)')

  // Settles and charges in one turn: the settles asked first free their places before the charges asked after them.
  const tickets = charged.flatMap((r) => r.allowed ? [r.ticket] : [])
  before = scriptCalls()
  const mixed = await Promise.all([
    ...tickets.map(async (ticket) => await store.settle(ticket, 'neutral', T, rules)),
    ...Array.from({ length: 6 }, async (_, i) => await store.charge({ id: `c${i}`, user: 'batched', network: 'net', device: false, now: T, rules }))
  ])
  t.equal(scriptCalls() - before, 1, 'five settles and six charges: one script call')
  t.same(mixed.slice(0, 5).map((r) => 'settled' in r && r.settled), [true, true, true, true, true], 'every settle found its charge')
  t.same(mixed.slice(5).map((r) => 'allowed' in r && r.allowed), [true, true, true, true, true, false], 'the charges after them: five places again')

  // A reload between two steps of one turn: each is judged by the rules it was asked with.
  const strict = guardRules(guardConfig('{ userNetwork: { failures: 1 } }'))
  const [lenient, strictOne] = await Promise.all([
    store.charge({ id: 'r1', user: 'reloaded', network: 'net', device: false, now: T, rules }),
    store.charge({ id: 'r2', user: 'reloaded', network: 'net', device: false, now: T, rules: strict })
  ])
  t.equal(lenient.allowed, true, 'the first, under five failures: allowed')
  t.equal(strictOne.allowed, false, 'the second, under one failure: refused (one in flight fills it)')
})

t.test('redis: a step that fails inside the script fails alone; the steps of its call stand', async (t) => {
  const prefix = freshPrefix()
  const warnings: string[] = []
  const store = await connect(t, prefix, (m) => { warnings.push(m) })
  // A key of another type where the user's counter hash should be: HGETALL on it fails (WRONGTYPE).
  redis.cli('set', `${prefix}{g}:u:broken`, 'not a hash')
  const [before, broken, after] = await Promise.allSettled([
    store.charge({ id: 'a', user: 'fine', network: 'net', device: false, now: T, rules }),
    store.charge({ id: 'b', user: 'broken', network: 'net', device: false, now: T, rules }),
    store.charge({ id: 'c', user: 'also-fine', network: 'net', device: false, now: T, rules })
  ])
  t.match(before, { status: 'fulfilled', value: { allowed: true } })
  t.match(broken, { status: 'rejected', reason: { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' } })
  t.match(after, { status: 'fulfilled', value: { allowed: true } }, 'the step after the failed one was decided')
  t.match(await store.ping(), undefined, 'the store still answers')
  await t.rejects(store.charge({ id: 'd', user: 'broken', network: 'net', device: false, now: T, rules }), { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' })
  t.equal(warnings.length, 1, 'logged once (a minute), not per attempt')
  t.match(warnings[0], /a step failed in Redis: .*WRONGTYPE/)
})

t.test('redis: a key prefix that is not ASCII names blocks rightly (the scripts cut names in bytes)', async (t) => {
  const store = await connect(t, `${freshPrefix()}gäste-ü:`)
  let blocked = 0
  for (let i = 0; i < 5; i++) {
    const d = await store.charge({ id: `f${i}`, user: 'umlaut', network: 'net', device: false, now: T + i, rules })
    if (d.allowed) blocked += (await store.settle(d.ticket, 'failure', T + i, rules)).blocks.length
  }
  t.equal(blocked, 1, 'the fifth failure blocks')
  const list = await store.blocks(T + 10, 10)
  t.same(list.blocks.map((b) => [b.counter, b.user, b.network]), [['userNetwork', 'umlaut', 'net']], 'listed by the admin, named as charged')
  t.same((await store.liftUser('umlaut', T + 10)).map((b) => b.counter), ['userNetwork'], 'and lifted')
  t.equal((await store.blocks(T + 10, 10)).total, 0)
})

t.test('redis: a store that closes sends the steps already asked for, and waits for their answers', async (t) => {
  const prefix = freshPrefix()
  const store = await connect(t, prefix)
  const charged = await Promise.all(Array.from({ length: 5 }, async (_, i) => await store.charge({ id: `k${i}`, user: 'leaving', network: 'net', device: false, now: T, rules })))
  const tickets = charged.flatMap((r) => r.allowed ? [r.ticket] : [])
  t.equal(tickets.length, 5)
  // Asked in the same turn as the close: sent before it disconnects.
  const settles = tickets.map(async (ticket) => await store.settle(ticket, 'neutral', T, rules))
  await store.close()
  t.same((await Promise.all(settles)).map((r) => r.settled), [true, true, true, true, true])
  await t.rejects(store.charge({ id: 'late', user: 'leaving', network: 'net', device: false, now: T, rules }), { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' }, 'a step asked after the close fails')
  // Another gateway sees the five places free again (a settle lost at the close would hold one for inFlightTimeout).
  const other = await connect(t, prefix)
  const again = await Promise.all(Array.from({ length: 5 }, async (_, i) => await other.charge({ id: `o${i}`, user: 'leaving', network: 'net', device: false, now: T, rules })))
  t.same(again.map((r) => r.allowed), [true, true, true, true, true])
})

t.test('redis: when Redis is away every step fails fast with SESSIONCAP_ERR_STORE_UNAVAILABLE, and works again when it is back', async (t) => {
  const own = await startRedis(t, { persistent: false })
  const store = await RedisGuardStore.connect({ store: redisStoreConfig(`url: ${own.url}`, 'commandTimeout: 200ms'), events: { warn: () => {}, error: () => {} } })
  t.teardown(async () => { await store.close() })
  const req = { id: 'a', user: 'u', network: 'n', device: false, now: T, rules }
  t.match(await store.charge(req), { allowed: true })
  await own.kill()
  // Each fails while Redis is still away (it is started again only after
  // them): a step that waited for Redis to come back would never settle, and
  // the test would time out. (No wall-clock assertion: speed lives in the bench.)
  await t.rejects(store.charge({ ...req, id: 'b' }), { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' })
  await t.rejects(store.settle({ id: 'a', user: 'u', network: 'n', counters: ['userNetwork'] }, 'failure', T, rules), { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' })
  await t.rejects(store.ping(), { code: 'SESSIONCAP_ERR_STORE_UNAVAILABLE' })
  await own.start()
  let back = false
  for (let i = 0; i < 100 && !back; i++) {
    back = await store.ping().then(() => true, () => false)
    if (!back) await new Promise((resolve) => setTimeout(resolve, 100))
  }
  t.ok(back, 'answers again')
  t.match(await store.charge({ ...req, id: 'c', now: T + 1 }), { allowed: true })
})

t.test('openLoginGuard: the Redis store with store type redis, sharing the sessions\' Redis', async (t) => {
  const { config } = loadConfigText(`upstream: http://127.0.0.1:1
secret: ${TEST_SECRET}
session: { cookie: sessionid }
login: [{ path: /login, user: { form: u } }]
store: { type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}", commandTimeout: 5s }
`, 'test.yaml', {})
  const guard = await openLoginGuard(config, [TEST_SECRET], { warn: () => {} })
  t.teardown(async () => { await guard?.close() })
  t.ok(guard?.store instanceof RedisGuardStore)
  await guard?.store.ping()
  t.match(await guard?.attempt({ user: 'alice', caseInsensitive: false, address: '203.0.113.7', now: T }), { allowed: true })
})
