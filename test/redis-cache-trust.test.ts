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
/** Until `ok()` holds, or 5 s have passed (the assertion after it then fails): for a heartbeat that a loaded machine delays. */
async function heard (ok: () => boolean): Promise<void> {
  for (let waited = 0; waited < 5_000 && !ok(); waited += 50) await sleep(50)
}

/** Real time for a heartbeat to go out and come back (sent every 100 ms). */
const BEAT = 350

interface Trial {
  store: RedisStore
  clock: { now: number }
  prefix: string
}

async function open (t: Test, timeouts: Partial<Timeouts> = {}, cacheMaxTtl = '10s'): Promise<Trial> {
  // The first heartbeat is heard before T0: answers read from T0 on are covered by the proof.
  const clock = { now: T0 - 1_000 }
  const config = redisStoreConfig(`url: ${redis.url}`, `commandTimeout: 2s\ncacheTtl: 200ms\ncacheMaxTtl: ${cacheMaxTtl}\ntouchInterval: 5s`)
  const store = await RedisStore.connect({
    store: config,
    timeouts: { maxAge: 86_400_000, idleTimeout: 0, ...timeouts },
    events: { warn: () => {} },
    now: () => clock.now
  })
  t.teardown(async () => { await store.close() })
  await sleep(BEAT)
  clock.now = T0
  return { store, clock, prefix: config.keyPrefix }
}

/** A second gateway's store on the same Redis and key prefix, with the same clock (default cacheTtl, no heartbeat needed). */
async function otherGateway (t: Test, s: Trial): Promise<RedisStore> {
  const other = await RedisStore.connect({
    store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s'), keyPrefix: s.prefix },
    timeouts: { maxAge: 86_400_000, idleTimeout: 0 },
    events: { warn: () => {} },
    now: () => s.clock.now
  })
  t.teardown(async () => { await other.close() })
  return other
}

/**
 * Signs `user` in with cookie id `id` 300 ms ago, then asks Redis about it
 * now (past cacheTtl: what a login answers is kept for cacheTtl only, until a
 * check tells the session's age).
 */
async function login (s: Trial, user: string, id: string): Promise<void> {
  const r = await s.store.admit({ id, user, limit: 5, policy: 'evict-oldest', now: s.clock.now - 300, replaces: [] })
  if (!r.admitted) throw new Error('not admitted')
  const checked = await s.store.check(id, s.clock.now)
  if (checked.state !== 'live') throw new Error(`not live: ${checked.state}`)
}

function calls (server: RedisServer, command: string): number {
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(server.cli('info', 'commandstats'))?.[1] ?? 0)
}

/** Script calls so far (ioredis sends a script with EVAL the first time on a connection, then EVALSHA). */
function scriptCalls (server: RedisServer): number {
  return calls(server, 'eval') + calls(server, 'evalsha')
}

t.test('while heartbeats come back, a live session is answered from memory up to cacheMaxTtl, not only cacheTtl', async (t) => {
  const s = await open(t)
  await login(s, 'alice', 'id-alice')
  s.clock.now = T0 + 1_000
  t.equal(s.store.checkCached('id-alice', s.clock.now), undefined, 'past cacheTtl, before a heartbeat of this moment is heard: ask Redis')
  await sleep(BEAT)
  await heard(() => s.store.checkCached('id-alice', s.clock.now) !== undefined)
  t.same(s.store.checkCached('id-alice', s.clock.now), { state: 'live', user: 'alice', slot: 'id-alice' }, 'a heartbeat heard since: answered from memory')
  s.clock.now = T0 + 9_900
  await sleep(BEAT)
  await heard(() => s.store.checkCached('id-alice', s.clock.now)?.state === 'live')
  t.same(s.store.checkCached('id-alice', s.clock.now)?.state, 'live', 'still, just under cacheMaxTtl (10 s)')
  s.clock.now = T0 + 10_000
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-alice', s.clock.now), undefined, 'at cacheMaxTtl: ask Redis again')
  // The uses answered from memory above are written in a batch (TOUCH, 500 ms later): let it land before counting.
  await sleep(1_500)
  const before = scriptCalls(redis)
  t.same(await s.store.check('id-alice', s.clock.now), { state: 'live', user: 'alice', slot: 'id-alice' }, 'Redis answers')
  t.equal(scriptCalls(redis) - before, 1, 'one script call')
  t.same(s.store.checkCached('id-alice', s.clock.now)?.state, 'live', 'and the fresh answer is kept')
})

t.test('an ending recorded through another gateway is seen at once, also past cacheTtl (the script that records it announces it)', async (t) => {
  const s = await open(t)
  const other = await otherGateway(t, s)
  await login(s, 'bob', 'id-bob')
  s.clock.now = T0 + 5_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-bob', s.clock.now)?.state, 'live', 'trusted from memory')
  await other.end(['id-bob'], 'logged_out', s.clock.now, { device: 'Safari, 100% on iPhone', ip: '10.0.0.2', at: s.clock.now })
  await sleep(100)
  t.match(s.store.checkCached('id-bob', s.clock.now), { state: 'ended', reason: 'logged_out' }, 'the announcement ended it here')
  t.match(s.store.checkCached('id-bob', s.clock.now), { by: { device: 'Safari, 100% on iPhone', ip: '10.0.0.2' } }, 'with who ended it, as it was given')
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
  idle.clock.now = T0 + 12_000
  await sleep(BEAT)
  t.same(idle.store.checkCached('id-dave', idle.clock.now)?.state, 'live', '12 s after its last use (+5 s touchInterval, +0.5 s batching, +2 s commandTimeout < 20 s): from memory')
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
  t.same(old.store.checkCached('id-erin', old.clock.now)?.state, 'live', 'just under maxAge (signed in at T0 - 0.3 s): from memory')
  old.clock.now = T0 + 30_000
  await sleep(BEAT)
  t.equal(old.store.checkCached('id-erin', old.clock.now), undefined, 'at maxAge: ask')
  t.same((await old.store.check('id-erin', old.clock.now)).state, 'unknown', 'gone from Redis')

  // An app that keeps the session id at login: the session is as old as its first login.
  const again = await open(t, { maxAge: 30_000 }, '60s')
  await login(again, 'jo', 'id-jo')
  again.clock.now = T0 + 20_000
  const r = await again.store.admit({ id: 'id-jo', user: 'jo', limit: 5, policy: 'evict-oldest', now: again.clock.now, replaces: [] })
  t.ok(r.admitted, 'signed in again with the same id')
  again.clock.now = T0 + 30_000
  await sleep(BEAT)
  t.equal(again.store.checkCached('id-jo', again.clock.now), undefined, 'at the first login\'s maxAge: ask')
  t.same((await again.store.check('id-jo', again.clock.now)).state, 'unknown', 'gone from Redis')
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
  const published = calls(redis, 'publish')
  s.clock.now = T0 + 1_000
  await sleep(BEAT)
  t.equal(calls(redis, 'publish'), published, 'nothing published')
  t.equal(s.store.checkCached('id-fay', s.clock.now), undefined, 'past cacheTtl: ask')
})

t.test('when the subscription drops, answers are trusted for cacheTtl only, until a heartbeat comes back through the new one and Redis is asked again', async (t) => {
  const s = await open(t)
  await login(s, 'gus', 'id-gus')
  s.clock.now = T0 + 2_000
  await sleep(BEAT)
  // A heartbeat may come late on a loaded machine: waited for (5 s at most), not assumed.
  await heard(() => s.store.checkCached('id-gus', s.clock.now)?.state === 'live')
  t.same(s.store.checkCached('id-gus', s.clock.now)?.state, 'live', 'trusted from memory')
  redis.cli('client', 'kill', 'type', 'pubsub')
  await sleep(BEAT * 2)
  s.clock.now = T0 + 2_500
  await sleep(BEAT)
  t.equal(s.store.checkCached('id-gus', s.clock.now), undefined, 'resubscribed: what was cached is dropped (announcements may have been missed)')
  t.same((await s.store.check('id-gus', s.clock.now)).state, 'live', 'asked again')
  s.clock.now = T0 + 4_000
  await sleep(BEAT)
  await heard(() => s.store.checkCached('id-gus', s.clock.now)?.state === 'live')
  t.same(s.store.checkCached('id-gus', s.clock.now)?.state, 'live', 'the new subscription is proven: trusted again')
})

t.test('a cookie the app hands to another user through another gateway is forgotten here', async (t) => {
  const s = await open(t)
  const other = await otherGateway(t, s)
  await login(s, 'hal', 'id-shared')
  s.clock.now = T0 + 2_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-shared', s.clock.now), { state: 'live', user: 'hal', slot: 'id-shared' }, 'cached as hal\'s')
  await other.admit({ id: 'id-shared', user: 'ivy', limit: 5, policy: 'evict-oldest', now: s.clock.now, replaces: [] })
  await sleep(100)
  t.equal(s.store.checkCached('id-shared', s.clock.now), undefined, 'forgotten')
  t.same(await s.store.check('id-shared', s.clock.now), { state: 'live', user: 'ivy', slot: 'id-shared' }, 'Redis says whose it is now')
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

t.test('an ending announced by an older gateway (not by a script) turns the longer trust off for cacheMaxTtl', async (t) => {
  const s = await open(t)
  await login(s, 'kai', 'id-kai')
  s.clock.now = T0 + 2_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-kai', s.clock.now)?.state, 'live', 'trusted from memory')
  // As a gateway of an earlier version announces: itself, after its script answered.
  redis.cli('publish', `${s.prefix}ended`, JSON.stringify({ ended: [['id-elsewhere', 'logged_out']], at: s.clock.now }))
  await sleep(100)
  t.equal(s.store.checkCached('id-kai', s.clock.now), undefined, 'no longer: such a gateway can leave an ending unannounced')
  s.clock.now = T0 + 12_100
  t.same((await s.store.check('id-kai', s.clock.now)).state, 'live', 'asked again')
  s.clock.now = T0 + 13_000
  await sleep(BEAT)
  t.same(s.store.checkCached('id-kai', s.clock.now)?.state, 'live', 'cacheMaxTtl later without another: trusted again')
})

t.test('what other gateways end is announced with who ended it, also a cookie of no known user, and a cookie rotated over from another user is forgotten', async (t) => {
  const s = await open(t)
  const other = await otherGateway(t, s)
  await other.end(['id-nobody-knows'], 'ended_by_admin', s.clock.now, { device: 'Firefox, on Linux', ip: '10.0.0.1', at: s.clock.now })
  await sleep(100)
  t.match(s.store.checkCached('id-nobody-knows', s.clock.now), { state: 'ended', reason: 'ended_by_admin', by: { device: 'Firefox, on Linux', ip: '10.0.0.1' } }, 'ended, with the device that ended it')

  await login(s, 'lou', 'id-handed')
  const r = await other.admit({ id: 'id-mo', user: 'mo', limit: 5, policy: 'evict-oldest', now: s.clock.now, replaces: [] })
  t.ok(r.admitted)
  t.same(s.store.checkCached('id-handed', s.clock.now)?.state, 'live', 'cached as lou\'s')
  await other.rotate('id-mo', 'id-handed', s.clock.now)
  await sleep(100)
  t.equal(s.store.checkCached('id-handed', s.clock.now), undefined, 'rotated into mo\'s session: forgotten here')
  t.same(await s.store.check('id-handed', s.clock.now), { state: 'live', user: 'mo', slot: 'id-mo' }, 'Redis says whose it is now')
})
