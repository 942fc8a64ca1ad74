import t, { type Test } from 'tap'
import { RedisStore } from '../src/store/redis/redis-store.js'
import { startRedis } from './helpers/redis.js'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { freshPrefix, redisStoreConfig, TEST_SECRET } from './helpers/redis-config.js'

/**
 * Ended sessions leave the user's keys for the compact index (ended-index.ts)
 * in the background. These tests wait until they have, then check that what
 * the user's keys used to decide is still decided the same way from the index.
 */
const redis = await startRedis(t, { persistent: false })
const T0 = Date.UTC(2026, 0, 1)
const MAX_AGE = 14 * 86_400_000

async function openStore (t: Test, prefix = freshPrefix(), extra = ''): Promise<RedisStore> {
  const store = await RedisStore.connect({
    store: { ...redisStoreConfig(`url: ${redis.url}`, `commandTimeout: 2s\ncacheTtl: 0s${extra}`), keyPrefix: prefix },
    timeouts: { idleTimeout: 0, maxAge: MAX_AGE },
    events: { warn: () => {} }
  })
  t.teardown(async () => { await store.close() })
  return store
}

/** Waits until no user's keys hold an ended record (all copied to the index). */
async function drained (prefix: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (redis.cli('--scan', '--pattern', `${prefix}{u:*}:ended`).trim() === '') return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error('ended records were not copied to the index')
}

t.test('once copied to the index, an ended session is refused by its id and by every older cookie of it', async (t) => {
  const prefix = freshPrefix()
  const store = await openStore(t, prefix)
  await store.admit({ user: 'alice', id: 'a', now: T0, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.same(await store.rotate('a', 'a2', T0 + 1), { rotated: true, user: 'alice' })
  await store.admit({ user: 'alice', id: 'b', now: T0 + 2, limit: 1, policy: 'evict-oldest', replaces: [] })
  await drained(prefix)
  t.same(redis.cli('--scan', '--pattern', `${prefix}{s:a}`).trim(), '', 'the ended session\'s pointer is gone')
  // A fresh gateway: nothing known locally.
  const other = await openStore(t, prefix)
  t.match(await other.check('a', T0 + 3), { state: 'ended', reason: 'concurrent_login_limit' })
  t.match(await other.check('a2', T0 + 3), { state: 'ended', reason: 'concurrent_login_limit', key: 'a' }, 'a later cookie of it resolves to it, ended')
  t.same(await other.admit({ user: 'carol', id: 'a', now: T0 + 4, limit: 1, policy: 'evict-oldest', replaces: [] }), { admitted: false, reason: 'ended' }, 'never admitted again')
  t.equal((await other.check('a', T0 + 5)).state, 'ended')
})

t.test('a rotation from a session ended meanwhile (copied to the index) ends the new cookie too', async (t) => {
  const prefix = freshPrefix()
  const store = await openStore(t, prefix)
  await store.admit({ user: 'bob', id: 'x', now: T0, limit: 1, policy: 'evict-oldest', replaces: [] })
  const other = await openStore(t, prefix)
  await other.end(['x'], 'ended_by_admin', T0 + 1)
  await drained(prefix)
  // This gateway has not heard of it yet in its own memory? It has (announced); a third one asks Redis.
  const third = await openStore(t, prefix)
  t.same(await third.rotate('x', 'x2', T0 + 2), { rotated: false, ended: true })
  t.match(await third.check('x2', T0 + 3), { state: 'ended', reason: 'ended_by_admin' })
})

t.test('a rotation into an id the index holds as ended is refused, and the id does not join the session', async (t) => {
  const prefix = freshPrefix()
  const store = await openStore(t, prefix)
  await store.end(['gone'], 'login_not_identified', T0)
  await store.admit({ user: 'dave', id: 'd', now: T0 + 1, limit: 1, policy: 'evict-oldest', replaces: [] })
  const other = await openStore(t, prefix)
  t.same(await other.rotate('d', 'gone', T0 + 2), { rotated: false, ended: true })
  const third = await openStore(t, prefix)
  t.equal((await third.check('gone', T0 + 3)).state, 'ended')
  t.equal((await third.check('d', T0 + 3)).state, 'live', 'the session itself goes on')
  t.same(redis.cli('hget', `${prefix}{u:${(await import('../src/store/redis/keys.js')).userTag('dave')}}:alias`, 'gone').trim(), '', 'no alias was left behind')
})

t.test('an ending recorded on the user\'s keys refuses at once, before it is copied; a later copy keeps the first reason', async (t) => {
  const prefix = freshPrefix()
  const store = await openStore(t, prefix)
  await store.admit({ user: 'erin', id: 'e1', now: T0, limit: 0, policy: 'evict-oldest', replaces: [] })
  await store.end(['e1'], 'logged_out', T0 + 1)
  const other = await openStore(t, prefix)
  t.match(await other.check('e1', T0 + 2), { state: 'ended', reason: 'logged_out' })
  await drained(prefix)
  await other.end(['e1'], 'ended_by_admin', T0 + 3)
  await drained(prefix)
  const third = await openStore(t, prefix)
  t.match(await third.check('e1', T0 + 4), { state: 'ended', reason: 'logged_out' }, 'first reason kept')
  t.equal((await third.stats(T0 + 4)).ended, 1, 'recorded once')
})

t.test('an ending that reads the pointer before a drain drops it still keeps the first reason', async (t) => {
  const prefix = freshPrefix()
  const store = await openStore(t, prefix)
  await store.admit({ user: 'fay', id: 'f1', now: T0, limit: 1, policy: 'evict-oldest', replaces: [] })
  await store.admit({ user: 'fay', id: 'f2', now: T0 + 1, limit: 1, policy: 'evict-oldest', replaces: [] })
  await drained(prefix)
  // The race, made to happen: a gateway read f1's pointer (fay) just before
  // the drain dropped it, and now ends f1 on fay's keys, where it no longer is.
  redis.cli('set', `${prefix}{s:f1}`, 'u,fay', 'px', String(MAX_AGE))
  const other = await openStore(t, prefix)
  const third = await openStore(t, prefix)
  t.same(await other.end(['f1'], 'logged_out', T0 + 2), [], 'nothing live was ended')
  t.match(await third.check('f1', T0 + 3), { state: 'ended', reason: 'concurrent_login_limit' }, 'first reason kept at once')
  await drained(prefix)
  t.match(await third.check('f1', T0 + 3), { state: 'ended', reason: 'concurrent_login_limit' }, 'and after every drain')
  t.equal(redis.cli('hlen', `${prefix}{u:${(await import('../src/store/redis/keys.js')).userTag('fay')}}:ended`).trim(), '0', 'no second record on the user\'s keys')
  t.equal((await third.stats(T0 + 4)).ended, 1, 'recorded once')
})

t.test('with a short maxAge no key outlives it by more than maxAge (the margin for clocks is an hour, or maxAge where shorter)', async (t) => {
  const prefix = freshPrefix()
  const maxAge = 120_000
  const store = await RedisStore.connect({
    store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s\ncacheTtl: 0s'), keyPrefix: prefix },
    timeouts: { idleTimeout: 0, maxAge },
    events: { warn: () => {} }
  })
  t.teardown(async () => { await store.close() })
  const now = Date.now()
  await store.admit({ user: 'gus', id: 'g1', now, limit: 1, policy: 'evict-oldest', replaces: [] })
  await store.admit({ user: 'gus', id: 'g2', now: now + 1, limit: 1, policy: 'evict-oldest', replaces: [] })
  await drained(prefix)
  const keys = redis.cli('--scan', '--pattern', `${prefix}*`).trim().split('\n').filter(Boolean)
  t.ok(keys.some((k) => k.includes('{e:')), 'the ended index holds g1')
  for (const key of keys) {
    const ttl = Number(redis.cli('pttl', key).trim())
    t.ok(ttl > 0 && ttl <= 2 * maxAge + maxAge / 16 + 1_000, `${key.slice(prefix.length)} expires within ${Math.round(ttl / 1000)} s`)
  }
})

t.test('store.maxEnded on Redis: past the bound (as counted by the fleet, read every few seconds) new sign-ins are refused', async (t) => {
  const prefix = freshPrefix()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}", maxEnded: 3 }\n` })
  for (let i = 0; i < 5; i++) {
    await h.device().formLogin('mallory')
    h.clock.advance(6_000)
  }
  await drained(prefix)
  // The count is read in the background: one sign-in to start the read, then the bound holds.
  await h.device().formLogin('mallory')
  await new Promise((resolve) => setTimeout(resolve, 100))
  h.clock.advance(6_000)
  const alice = h.device()
  const r = await alice.formLogin('alice')
  t.equal(r.status, 503)
  t.match(r.text, /SESSIONCAP_ERR_STORE_FULL/)
  t.equal(alice.sessionCookie, undefined, 'cookie withheld')
  t.ok(h.logs.some((l) => /Redis holds store.maxEnded ended sessions/.test(l)))
})
