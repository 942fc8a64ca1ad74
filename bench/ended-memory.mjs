// Memory per ended session, in each store. Run with --expose-gc;
// argv[2] = 'memory' or a Redis URL, argv[3] = how many ended sessions.
// Ends that many sessions (real keyed-hash ids, spread over two days so that
// several time buckets fill and the earlier ones close) and prints JSON:
// for the memory store the growth of the heap and of typed-array memory per
// ended session; for Redis the growth of INFO memory's used_memory (and of
// used_memory_dataset, which leaves out Redis's own buffers).
import { randomBytes } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { MemoryStore } from '../dist/store/memory-store.js'
import { RedisStore } from '../dist/store/redis/redis-store.js'
import { loadConfigText } from '../dist/config/load.js'
import { createSessionHasher } from '../dist/http/session-hash.js'

const [where, count] = process.argv.slice(2)
const n = Number(count)
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
const hash = createSessionHasher(randomBytes(32))
const timeouts = { idleTimeout: 7_200_000, maxAge: 14 * 86_400_000 }
const T0 = Date.UTC(2026, 0, 1)
const SPREAD = 2 * 86_400_000
const BATCH = 1_000

function settle () { for (let i = 0; i < 4; i++) globalThis.gc() }
/** The ids of one batch, made as the gateway makes them (a keyed hash of a cookie value). */
function ids () {
  const random = randomBytes(BATCH * 24).toString('base64url')
  return Array.from({ length: BATCH }, (_, i) => hash(random.slice(i * 32, i * 32 + 32)))
}

const t0 = process.hrtime.bigint()
let out
if (where === 'memory') {
  const store = new MemoryStore({ maxSessions: 1_000_000, maxEnded: n + 1, timeouts })
  settle()
  const before = process.memoryUsage()
  for (let done = 0; done < n; done += BATCH) await store.end(ids(), 'concurrent_login_limit', T0 + Math.floor(done / n * SPREAD))
  settle()
  const after = process.memoryUsage()
  const stats = await store.stats(T0 + SPREAD)
  out = {
    store: 'memory',
    ended: stats.ended,
    heapBytesPerEnded: (after.heapUsed - before.heapUsed) / n,
    tableBytesPerEnded: (after.arrayBuffers - before.arrayBuffers) / n,
    bytesPerEnded: (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / n
  }
} else {
  const url = new URL(where)
  const info = () => spawnSync('redis-cli', ['-h', url.hostname, '-p', url.port, 'info', 'memory'], { encoding: 'utf8' }).stdout
  const read = (text, field) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(text)?.[1])
  const { config } = loadConfigText(`upstream: http://127.0.0.1:1\nsecret: ${randomBytes(24).toString('hex')}\nsession: { cookie: sessionid }\nlogin: [{ path: /login, user: { form: u } }]\nstore: { type: redis, url: "${where}", keyPrefix: "bench-ended:", commandTimeout: 10s }\n`, 'bench.yaml', {})
  const store = await RedisStore.connect({ store: config.store, timeouts, events: { warn: () => {} } })
  const before = info()
  // Ids of no known user go straight to the index, as every ending ends up.
  for (let done = 0; done < n; done += BATCH) await store.end(ids(), 'concurrent_login_limit', T0 + Math.floor(done / n * SPREAD))
  const after = info()
  const stats = await store.stats(T0 + SPREAD)
  await store.close()
  out = {
    store: 'redis',
    ended: stats.ended,
    bytesPerEnded: (read(after, 'used_memory') - read(before, 'used_memory')) / n,
    datasetBytesPerEnded: (read(after, 'used_memory_dataset') - read(before, 'used_memory_dataset')) / n
  }
}
process.stdout.write(JSON.stringify({ ...out, sessions: n, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }) + '\n')
