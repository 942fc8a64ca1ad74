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
 * What one session costs in Redis, measured: N users with one live session
 * each, then each user signing in again elsewhere (one more live session, one
 * ended). At this small N the second figure also holds Redis's own tables
 * growing (its key dictionaries double as the users' ended records pass
 * through their keys, and shrink later); docs/fleet.md quotes the benchmark's
 * figures at a million ended sessions (bench/redis-ended.mjs).
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
  // Ended records are copied to the index in the background: wait until the users' keys hold none.
  for (let i = 0; i < 200 && redis.cli('--scan', '--pattern', '*:ended').trim() !== ''; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const afterEnded = usedMemory(redis.cli('info', 'memory'))
  const perUserWithOneSession = (afterLive - before) / N
  const perEndedSession = (afterEnded - afterLive) / N
  t.comment(`a user with one live session: ${perUserWithOneSession.toFixed(0)} bytes; each further (ended) session: ${perEndedSession.toFixed(0)} bytes`)
  t.ok(perUserWithOneSession < 1_000, `${perUserWithOneSession.toFixed(0)} bytes for a user's first session`)
  t.ok(perEndedSession < 250, `${perEndedSession.toFixed(0)} bytes for a further session (was ~670 with a pointer, a field of the user's ended hash and one of its time index per ending)`)
  t.same(await store.stats(T0 + 2), { live: N, ended: N, aliases: 0 })
})
