// The store's admit step alone, in process (no HTTP): argv[2] is JSON
// { kind: 'memory' | 'redis', redisUrl?, users, storm, window }.
// - many users: `users` logins of distinct users (memory: one after another;
//   Redis: `window` admissions in flight at once from this one process, so
//   ioredis pipelines them on its connection);
// - one-user storm: `storm` concurrent logins of one user under limit 2,
//   then the user's sessions are counted: exactly 2 must remain.
// Prints one JSON line.
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../dist/store/memory-store.js'
import { RedisStore } from '../dist/store/redis/redis-store.js'
import { loadConfigText } from '../dist/config/load.js'
import { createSessionHasher } from '../dist/http/session-hash.js'
import { Redis } from 'ioredis'

const job = JSON.parse(process.argv[2])
const timeouts = { idleTimeout: 7_200_000, maxAge: 14 * 86_400_000 }
const hash = createSessionHasher(randomBytes(32))
const meta = { device: 'Chrome 131 on Windows 10', ip: '203.0.113.x' }
const tag = randomBytes(3).toString('hex')

let store
if (job.kind === 'memory') {
  store = new MemoryStore({ maxSessions: 1_000_000, timeouts })
} else {
  const { config } = loadConfigText(`upstream: http://127.0.0.1:1
secret: bench-secret-0123456789abcdef0123456789
session: { cookie: sessionid }
login: [{ path: /login, user: { form: username } }]
store: { type: redis, url: "${job.redisUrl}", keyPrefix: "bench-${tag}:", commandTimeout: 5s }
`, 'bench.yaml', {})
  const warn = (m) => { process.stderr.write(`redis store: ${m}\n`) }
  store = await RedisStore.connect({ store: config.store, timeouts, events: { warn, error: warn, info: () => {} } })
}

// Ids are made beforehand: the HMAC of a cookie is the gateway's cost, not the store's.
const ids = Array.from({ length: job.users }, () => hash(randomBytes(24).toString('base64url')))
const attempt = (user, id, now) => ({ user, id, meta, now, limit: 2, policy: 'evict-idlest', replaces: [] })

async function manyUsers () {
  const now = Date.now()
  const t0 = process.hrtime.bigint()
  let admitted = 0
  if (job.kind === 'memory') {
    for (let i = 0; i < ids.length; i++) {
      const r = await store.admit(attempt(`u${tag}-${i}`, ids[i], now))
      if (r.admitted) admitted++
    }
  } else {
    let next = 0
    const worker = async () => {
      while (next < ids.length) {
        const i = next++
        const r = await store.admit(attempt(`u${tag}-${i}`, ids[i], now))
        if (r.admitted) admitted++
      }
    }
    await Promise.all(Array.from({ length: job.window }, worker))
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  return { logins: ids.length, admitted, seconds, perSecond: ids.length / seconds }
}

async function storm () {
  const user = `storm-${tag}`
  const now = Date.now()
  const stormIds = Array.from({ length: job.storm }, () => hash(randomBytes(24).toString('base64url')))
  const t0 = process.hrtime.bigint()
  const results = await Promise.all(stormIds.map((id, i) => store.admit(attempt(user, id, now + i))))
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  const sessions = await store.sessionsOf(user, now + job.storm)
  // Every admitted session but the last two must have been ended by a later one.
  let live = 0
  for (const id of stormIds) if ((await store.check(id, now + job.storm)).state === 'live') live++
  return { logins: job.storm, admitted: results.filter((r) => r.admitted).length, seconds, perSecond: job.storm / seconds, sessionsLeft: sessions.length, liveChecks: live, ok: sessions.length === 2 && live === 2 }
}

// Redis memory per session: INFO memory before and after the many-users run
// (one live session per user: its pointer key, the user's hash and field).
const info = job.kind === 'redis' ? new Redis(job.redisUrl) : undefined
const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await info.info('memory'))[1])
const before = info === undefined ? 0 : await usedMemory()
const many = await manyUsers()
const out = { kind: job.kind, many }
if (info !== undefined) {
  const after = await usedMemory()
  out.redisBytesPerSession = (after - before) / job.users
  out.redisUsedMemoryMiB = after / 2 ** 20
}
out.storm = await storm()
info?.disconnect()
await store.close()
process.stdout.write(JSON.stringify(out) + '\n')
