import t from 'tap'
import { RedisStore } from '../src/store/redis/redis-store.js'
import { startRedis } from './helpers/redis.js'
import { redisStoreConfig } from './helpers/redis-config.js'

const N = 2_000
const T0 = Date.UTC(2026, 0, 1)

function usedMemory (info: string): number {
  return Number(/used_memory:(\d+)/.exec(info)?.[1])
}

/**
 * What one session costs in Redis, measured (the README quotes these
 * numbers): N users with one live session each, then each user signing in
 * again elsewhere (one more live session, one ended).
 */
t.test('Redis memory per session', async (t) => {
  const redis = await startRedis(t, { persistent: false })
  const store = await RedisStore.connect({
    store: redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 5s'),
    timeouts: { idleTimeout: 7_200_000, maxAge: 14 * 86_400_000 },
    events: { warn: () => {} }
  })
  t.teardown(async () => { await store.close() })
  const id = (u: number, n: number): string => `${String(u).padStart(10, '0')}${n}xxxxxxxxxxx`.slice(0, 22)
  const before = usedMemory(redis.cli('info', 'memory'))
  for (let u = 0; u < N; u++) await store.admit({ user: `user-${u}@example.com`, id: id(u, 1), now: T0, limit: 1, policy: 'evict-idlest', replaces: [] })
  const afterLive = usedMemory(redis.cli('info', 'memory'))
  for (let u = 0; u < N; u++) await store.admit({ user: `user-${u}@example.com`, id: id(u, 2), now: T0 + 1, limit: 1, policy: 'evict-idlest', replaces: [] })
  const afterEnded = usedMemory(redis.cli('info', 'memory'))
  const perUserWithOneSession = (afterLive - before) / N
  const perEndedSession = (afterEnded - afterLive) / N
  t.comment(`a user with one live session: ${perUserWithOneSession.toFixed(0)} bytes; each further (ended) session: ${perEndedSession.toFixed(0)} bytes`)
  t.ok(perUserWithOneSession < 1_000, `${perUserWithOneSession.toFixed(0)} bytes for a user's first session`)
  t.ok(perEndedSession < 1_000, `${perEndedSession.toFixed(0)} bytes for a further session`)
  t.same(await store.stats(T0 + 2), { live: N, ended: N, aliases: 0 })
})
