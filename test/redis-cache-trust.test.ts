import t, { type Test } from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { RedisStore } from '../src/store/redis/redis-store.js'
import { userKeys } from '../src/store/redis/keys.js'
import type { Timeouts } from '../src/domain/session.js'
import { startRedis, type RedisServer } from './helpers/redis.js'
import { redisStoreConfig } from './helpers/redis-config.js'

/**
 * How long a gateway trusts what Redis told it (store.cacheTtl,
 * store.cacheMaxTtl), and how it writes uses (store.touchInterval), on one
 * store with a clock the test moves. Heartbeats are real: every cacheTtl/2
 * (100 ms here) of real time, published and heard back through Redis.
 */
const redis = await startRedis(t, { persistent: false })

const T0 = 1_800_000_000_000
/** Real time for a heartbeat to go out and come back (sent every 100 ms). */
const BEAT = 350

interface Trial {
  store: RedisStore
  clock: { now: number }
  prefix: string
}

async function open (t: Test, timeouts: Partial<Timeouts> = {}, cacheMaxTtl = '10s'): Promise<Trial> {
  const clock = { now: T0 }
  const config = redisStoreConfig(`url: ${redis.url}`, `commandTimeout: 2s\ncacheTtl: 200ms\ncacheMaxTtl: ${cacheMaxTtl}\ntouchInterval: 5s`)
  const store = await RedisStore.connect({
    store: config,
    timeouts: { maxAge: 86_400_000, idleTimeout: 0, ...timeouts },
    events: { warn: () => {} },
    now: () => clock.now
  })
  t.teardown(async () => { await store.close() })
  await sleep(BEAT)
  return { store, clock, prefix: config.keyPrefix }
}

async function login (s: Trial, user: string, id: string): Promise<void> {
  const r = await s.store.admit({ id, user, limit: 5, policy: 'evict-oldest', now: s.clock.now, replaces: [] })
  if (!r.admitted) throw new Error('not admitted')
}

/** Script calls so far (ioredis sends a script with EVAL the first time, then EVALSHA). */
function scriptCalls (server: RedisServer): number {
  return [...server.cli('info', 'commandstats').matchAll(/cmdstat_eval(?:sha)?:calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0)
}

t.test('while heartbeats come back, a live session is answered from memory up to cacheMaxTtl, not only cacheTtl', async (t) => {
  const s = await open(t)
  await login(s, 'alice', 'id-alice')
  s.clock.now = T0 + 1_000
  t.equal(s.store.checkCached('id-alice', s.clock.now), undefined, 'past cacheTtl, before a heartbeat of this moment is heard: ask Redis')
  await sleep(BEAT)
  t.same(s.store.checkCached('id-alice', s.clock.now), { state: 'live', user: 'alice', slot: 'id-alice' }, 'a heartbeat heard since: answered from memory')
  s.clock.now = T0 + 9_900
  await sleep(BEAT)
  t.same(s.store.checkCached('id-alice', s.clock.now)?.state, 'live', 'still, just under cacheMaxTtl (10 s)')
  s.clock.now = T0 + 10_000
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-alice', s.clock.now), undefined, 'at cacheMaxTtl: ask Redis again')
  const before = scriptCalls(redis)
  t.same(await s.store.check('id-alice', s.clock.now), { state: 'live', user: 'alice', slot: 'id-alice' }, 'Redis answers')
  t.equal(scriptCalls(redis) - before, 1, 'one script call')
  t.same(s.store.checkCached('id-alice', s.clock.now)?.state, 'live', 'and the fresh answer is kept')
})

t.test('an ending announced by another gateway is seen at once, also past cacheTtl', async (t) => {
  const s = await open(t)
  const other = await RedisStore.connect({
    store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s'), keyPrefix: s.prefix },
    timeouts: { maxAge: 86_400_000, idleTimeout: 0 },
    events: { warn: () => {} },
    now: () => s.clock.now
  })
  t.teardown(async () => { await other.close() })
  await login(s, 'bob', 'id-bob')
  s.clock.now = T0 + 5_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-bob', s.clock.now)?.state, 'live', 'trusted from memory')
  await other.end(['id-bob'], 'logged_out', s.clock.now)
  await sleep(100)
  t.match(s.store.checkCached('id-bob', s.clock.now), { state: 'ended', reason: 'logged_out' }, 'the announcement ended it here')
})

t.test('a change never announced is seen within cacheMaxTtl (the bound the heartbeat cannot cover)', async (t) => {
  const s = await open(t)
  await login(s, 'carol', 'id-carol')
  // As if a gateway wrote an ending and died before announcing it.
  const k = userKeys(s.prefix, 'carol')
  redis.cli('hdel', k.live, 'id-carol')
  redis.cli('hset', k.ended, 'id-carol', `${T0},logged_out`)
  s.clock.now = T0 + 5_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-carol', s.clock.now)?.state, 'live', 'under cacheMaxTtl: the gateway does not know')
  s.clock.now = T0 + 10_000
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-carol', s.clock.now), undefined, 'at cacheMaxTtl it asks')
  t.match(await s.store.check('id-carol', s.clock.now), { state: 'ended', reason: 'logged_out' }, 'and Redis says ended')
})

t.test('a cached answer never outlives idleTimeout or maxAge', async (t) => {
  const idle = await open(t, { idleTimeout: 20_000 }, '60s')
  await login(idle, 'dave', 'id-dave')
  await login(idle, 'dave', 'id-dave-2')
  idle.clock.now = T0 + 14_000
  await sleep(BEAT)
  t.same(idle.store.checkCached('id-dave', idle.clock.now)?.state, 'live', '14 s after its last use (+5 s touchInterval < 20 s): from memory')
  idle.clock.now = T0 + 15_000
  await sleep(BEAT)
  t.equal(idle.store.checkCached('id-dave-2', idle.clock.now), undefined, 'unused for 15 s: Redis might count it idle by now, so ask')
  t.same((await idle.store.check('id-dave-2', idle.clock.now)).state, 'live', 'it is not (and Redis records this use)')
  idle.clock.now = T0 + 35_000
  await sleep(BEAT)
  t.equal(idle.store.checkCached('id-dave-2', idle.clock.now), undefined, 'unused for 20 s since: ask')
  t.same((await idle.store.check('id-dave-2', idle.clock.now)).state, 'idle', 'idle, as Redis says')

  const old = await open(t, { maxAge: 30_000 }, '60s')
  await login(old, 'erin', 'id-erin')
  old.clock.now = T0 + 29_000
  await sleep(BEAT)
  t.same(old.store.checkCached('id-erin', old.clock.now)?.state, 'live', 'just under maxAge: from memory')
  old.clock.now = T0 + 30_000
  await sleep(BEAT)
  t.equal(old.store.checkCached('id-erin', old.clock.now), undefined, 'at maxAge: ask')
  t.same((await old.store.check('id-erin', old.clock.now)).state, 'unknown', 'gone from Redis')
})

t.test('only live answers are kept past cacheTtl', async (t) => {
  const s = await open(t)
  t.same(await s.store.check('id-nobody', s.clock.now), { state: 'unknown' }, 'an unknown cookie')
  s.clock.now = T0 + 1_000
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-nobody', s.clock.now), undefined, 'is asked about again after cacheTtl (another gateway may admit it)')
})

t.test('with cacheMaxTtl no longer than cacheTtl there are no heartbeats, and cacheTtl is the only bound', async (t) => {
  const s = await open(t, {}, '200ms')
  await login(s, 'fay', 'id-fay')
  s.clock.now = T0 + 1_000
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-fay', s.clock.now), undefined, 'past cacheTtl: ask')
})

t.test('uses are written in batches, one script call for many users, and seen by the next read', async (t) => {
  const s = await open(t, {}, '60s')
  const users = Array.from({ length: 40 }, (_, i) => `user${i}`)
  for (const u of users) await login(s, u, `id-${u}`)
  s.clock.now = T0 + 6_000
  await sleep(BEAT)
  const before = scriptCalls(redis)
  for (const u of users) t.same(s.store.checkCached(`id-${u}`, s.clock.now)?.state, 'live')
  t.equal(scriptCalls(redis) - before, 0, 'nothing sent yet')
  const [first] = await s.store.sessionsOf('user0', s.clock.now)
  t.equal(first?.lastUsedAt, T0 + 6_000, 'a read sees the use: the batch is sent ahead of it')
  t.equal(scriptCalls(redis) - before, 2, 'the batch of 40 uses in one call, then the read')
  for (const u of users.slice(1)) {
    const [r] = await s.store.sessionsOf(u, s.clock.now)
    t.equal(r?.lastUsedAt, T0 + 6_000, `${u}'s use written`)
  }

  s.clock.now = T0 + 12_000
  await sleep(BEAT)
  for (const u of users) s.store.checkCached(`id-${u}`, s.clock.now)
  const beforeTimer = scriptCalls(redis)
  await sleep(800)
  t.equal(scriptCalls(redis) - beforeTimer, 1, 'unread, the batch goes out by itself within half a second')
  const [r] = await s.store.sessionsOf('user39', s.clock.now)
  t.equal(r?.lastUsedAt, T0 + 12_000)
})
