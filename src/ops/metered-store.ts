import type { SessionStore } from '../store/store.js'
import type { Histogram, Counter } from 'prom-client'

type Operation = 'check' | 'admit' | 'rotate' | 'end' | 'settle' | 'sessionsOf' | 'users' | 'ping'

/**
 * A store that times each operation and counts failures for the metrics,
 * and otherwise is the store it wraps. Only the store's own work is timed
 * (a store call that fails fast because Redis is away is an error, and counted).
 */
export function meteredStore (store: SessionStore, seconds: Histogram<'operation'>, errors: Counter<'operation'>): SessionStore {
  const timers = new Map<Operation, { observe: (v: number) => void, fail: () => void }>()
  for (const op of ['check', 'admit', 'rotate', 'end', 'settle', 'sessionsOf', 'users', 'ping'] as const) {
    const child = seconds.labels(op)
    const failed = errors.labels(op)
    timers.set(op, { observe: (v) => { child.observe(v) }, fail: () => { failed.inc() } })
  }
  async function timed<T> (op: Operation, work: () => Promise<T>): Promise<T> {
    const t = timers.get(op) as { observe: (v: number) => void, fail: () => void }
    const start = performance.now()
    try {
      return await work()
    } catch (err) {
      t.fail()
      throw err
    } finally {
      t.observe((performance.now() - start) / 1000)
    }
  }
  const cachedCheck = store.checkCached?.bind(store)
  return {
    kind: store.kind,
    // Answers from memory: nothing to time (a histogram observation would cost more than the answer).
    ...(cachedCheck === undefined ? {} : { checkCached: cachedCheck }),
    check: async (id, now) => await timed('check', async () => await store.check(id, now)),
    admit: async (attempt) => await timed('admit', async () => await store.admit(attempt)),
    rotate: async (from, to, now) => await timed('rotate', async () => await store.rotate(from, to, now)),
    end: async (ids, reason, now, by) => await timed('end', async () => await store.end(ids, reason, now, by)),
    settle: async (key, policy, limit, now) => await timed('settle', async () => await store.settle(key, policy, limit, now)),
    sessionsOf: async (user, now) => await timed('sessionsOf', async () => await store.sessionsOf(user, now)),
    users: (now) => store.users(now),
    ping: async () => { await timed('ping', async () => { await store.ping() }) },
    stats: async (now) => await store.stats(now),
    close: async () => { await store.close() }
  }
}
