// Memory per tracked session in the memory store: run with --expose-gc,
// argv[2] = how many sessions. Admits that many sessions (one user each,
// with the device and address the gateway keeps for its pages) straight into
// a MemoryStore and prints JSON with the heap and RSS growth per session.
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../dist/store/memory-store.js'
import { createSessionHasher } from '../dist/http/session-hash.js'
import { sessionMeta } from '../dist/pages/device.js'

const n = Number(process.argv[2])
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
const hash = createSessionHasher(randomBytes(32))
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

function settle () { for (let i = 0; i < 4; i++) globalThis.gc() }
const store = new MemoryStore({ maxSessions: Math.max(n, 1_000_000), timeouts: { idleTimeout: 7_200_000, maxAge: 14 * 86_400_000 } })
settle()
const before = process.memoryUsage()
const now = Date.now()
const t0 = process.hrtime.bigint()
for (let i = 0; i < n; i++) {
  // The gateway builds a fresh meta object per login, from the request.
  const meta = sessionMeta(UA, `203.0.113.${i & 255}`, 'approximate')
  // The id and user name are made here, as the gateway makes them per login:
  // the strings the store keeps count as its cost.
  const id = hash(randomBytes(24).toString('base64url'))
  await store.admit({ user: `user${i}@example.com`, id, meta, now: now + (i >> 10), limit: 2, policy: 'evict-idlest', replaces: [] })
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
// Then every session is used once, a minute later, as a session in use is:
// its last-use time then differs from its login time (one more number kept).
for (const [kind, key] of store.records()) if (kind === 's') store.checkCached(key, now + 60_000 + (n >> 10))
settle()
const after = process.memoryUsage()
const stats = await store.stats(now + (n >> 10))
process.stdout.write(JSON.stringify({
  sessions: n,
  tracked: stats.live,
  heapBytesPerSession: (after.heapUsed - before.heapUsed) / n,
  rssBytesPerSession: (after.rss - before.rss) / n,
  heapUsedMiB: after.heapUsed / 2 ** 20,
  rssMiB: after.rss / 2 ** 20,
  seconds
}) + '\n')
