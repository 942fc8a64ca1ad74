// The login guard's two steps alone, in process (no HTTP): attempt (charge)
// then settle, as the proxy would make them for each login request.
// argv[2] (optional) is JSON { kinds: ['memory', 'redis'], attempts, redisAttempts, window, redisUrl? }.
// Without redisUrl a redis-server of our own is started (and stopped).
// Prints one JSON line:
// - memory: attempts+settles per second through the LoginGuard (hashing
//   the user and the address included) and through the store alone
//   (keys hashed beforehand), one after the other, as one gateway's event
//   loop runs them; heap bytes per counter key (node --expose-gc);
// - redis: the same through one store, `window` attempts in flight at once
//   from this one process, so ioredis pipelines them on its connection (as
//   store-admit.mjs does); Redis bytes per counter key and per blocked key
//   (INFO used_memory).
// Workload: 50,000 users in turn, each signing in from its own network (one of
// 20,000 IPv4 addresses) nine times in ten and from another one the tenth;
// 90% successes and 10% failures. Device tokens are not signed here (their
// own call, after a success: `device` below measures it).
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { LoginGuard } from '../dist/guard/login-guard.js'
import { createDeviceTokens } from '../dist/guard/device-token.js'
import { MemoryGuardStore } from '../dist/guard/memory-guard.js'
import { RedisGuardStore } from '../dist/guard/redis/redis-guard.js'
import { guardRules } from '../dist/guard/rules.js'
import { loadConfigText } from '../dist/config/load.js'
import { startRedis, stopAll } from './lib.mjs'

if (typeof globalThis.gc !== 'function') {
  // Heap sizes need a collection on demand: run again with --expose-gc.
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, process.argv[1], ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(r.status ?? 1)
}

const job = { kinds: ['memory', 'redis'], attempts: 300_000, redisAttempts: 100_000, window: 256, ...JSON.parse(process.argv[2] ?? '{}') }
const SECRET = 'bench-secret-0123456789abcdef0123456789'
const T0 = Date.UTC(2026, 0, 1)
const { config } = loadConfigText(`upstream: http://127.0.0.1:1
secret: ${SECRET}
session: { cookie: sessionid }
login: [{ path: /login, user: { form: username } }]
`, 'bench.yaml', {})
const rules = guardRules(config.guard)
const users = Array.from({ length: 50_000 }, (_, i) => `user${i}@example.com`)
const addresses = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
// Each user's attempts fail one time in ten (not always the same user's).
const outcomeOf = (i) => ((i + Math.floor(i / users.length)) % 10 === 0 ? 'failure' : 'success')
const userOf = (i) => i % users.length
const networkOf = (i) => (i % 10 === 3 ? (i * 7919) : userOf(i) * 7) % addresses.length
const guardOn = (store) => new LoginGuard({ store, secrets: [SECRET], rules, ipv6Prefix: 64, deviceMaxAge: 90 * 86_400_000 })
const perSecond = (n, t0) => n / (Number(process.hrtime.bigint() - t0) / 1e9)
/** Pairs per second of this process's own CPU time: on a shared machine wall time also counts other processes' turns. */
const perCpuSecond = (n, c0) => { const c = process.cpuUsage(c0); return n / ((c.user + c.system) / 1e6) }

/** `n` attempt+settle pairs, one after the other (the clock moves 1 ms per pair). */
async function sequential (guard, n, from = 0) {
  let refused = 0
  const t0 = process.hrtime.bigint()
  const c0 = process.cpuUsage()
  for (let i = from; i < from + n; i++) {
    const now = T0 + i
    const d = await guard.attempt({ user: users[userOf(i)], caseInsensitive: true, address: addresses[networkOf(i)], now })
    if (d.allowed) await guard.settle(d.ticket, outcomeOf(i), now)
    else refused++
  }
  return { pairs: n, refused, perSecond: perSecond(n, t0), perCpuSecond: perCpuSecond(n, c0) }
}

/** The same through the store, keys hashed beforehand. */
async function storeOnly (store, n) {
  const guard = guardOn(store)
  const userKeys = users.map((u) => guard.userKeyOf(u, true))
  const netKeys = addresses.map((a) => guard.networkKeyOf(a))
  let refused = 0
  const t0 = process.hrtime.bigint()
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) {
    const now = T0 + i
    const r = await store.charge({ id: `s${i}`, user: userKeys[userOf(i)], network: netKeys[networkOf(i)], device: false, now, rules })
    if (r.allowed) await store.settle(r.ticket, outcomeOf(i), now, rules)
    else refused++
  }
  return { pairs: n, refused, perSecond: perSecond(n, t0), perCpuSecond: perCpuSecond(n, c0) }
}

/** `n` pairs with `window` in flight at once (ioredis pipelines them). */
async function windowed (guard, n, window) {
  let next = 0
  let refused = 0
  const t0 = process.hrtime.bigint()
  const c0 = process.cpuUsage()
  const worker = async () => {
    while (next < n) {
      const i = next++
      const now = T0 + i
      const d = await guard.attempt({ user: users[userOf(i)], caseInsensitive: true, address: addresses[networkOf(i)], now })
      if (d.allowed) await guard.settle(d.ticket, outcomeOf(i), now)
      else refused++
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  return { pairs: n, refused, perSecond: perSecond(n, t0), perCpuSecond: perCpuSecond(n, c0) }
}

/** The heap and the ArrayBuffers (the memory store's counter table lives in ArrayBuffers, outside the heap). */
function heap () {
  globalThis.gc()
  globalThis.gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

async function memory () {
  const out = {}
  // Warm up, then measure; the store is sized so nothing is dropped.
  await sequential(guardOn(new MemoryGuardStore({ maxKeys: 1_000_000 })), 50_000)
  out.guard = await sequential(guardOn(new MemoryGuardStore({ maxKeys: 1_000_000 })), job.attempts)
  out.storeOnly = await storeOnly(new MemoryGuardStore({ maxKeys: 1_000_000 }), job.attempts)
  out.guardAgain = await sequential(guardOn(new MemoryGuardStore({ maxKeys: 1_000_000 })), job.attempts)

  // Device tokens: signed after a success without one, verified on every attempt that carries one.
  const tokens = createDeviceTokens({ secrets: [SECRET], maxAge: 90 * 86_400_000 })
  const keyOf = guardOn(new MemoryGuardStore({ maxKeys: 10 })).userKeyOf('alice', true)
  let c0 = process.cpuUsage()
  const signed = Array.from({ length: 100_000 }, (_, i) => tokens.sign(keyOf, T0 + i))
  out.deviceTokens = { signPerCpuSecond: perCpuSecond(signed.length, c0) }
  c0 = process.cpuUsage()
  let valid = 0
  for (const token of signed) if (tokens.verify(token, T0 + 200_000).valid) valid++
  out.deviceTokens.verifyPerCpuSecond = perCpuSecond(signed.length, c0)
  out.deviceTokens.valid = valid

  // Bytes per counter key: 100,000 failed attempts of distinct users from
  // distinct networks leave 4 keys each (userNetwork, network, user, logins).
  const n = 100_000
  const before = heap()
  const keep = new MemoryGuardStore({ maxKeys: 4 * n })
  const empty = heap()
  const g2 = guardOn(keep)
  for (let i = 0; i < n; i++) {
    const d = await g2.attempt({ user: `distinct${i}`, caseInsensitive: false, address: `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, now: T0 })
    if (d.allowed) await g2.settle(d.ticket, 'failure', T0)
  }
  const full = heap()
  const size = keep.size()
  const keys = size.counters + size.blocked
  out.heap = {
    keys,
    preallocatedBytesPerSlot: (empty - before) / (4 * n),
    bytesPerKey: (full - empty) / keys,
    bytesPerKeyAtFullOccupancy: (full - before) / keys,
    note: 'heap and ArrayBuffers. preallocated: the blocked keys\' LRU reserves its slots when made; the counter table (64 B records, an index of 8 B slots at most half full) grows by doubling up to maxKeys, so a key costs its record, its share of the index, and the records made and not yet used'
  }
  return out
}

async function redis () {
  let server
  let url = job.redisUrl
  if (url === undefined) {
    server = await startRedis(mkdtempSync(join(tmpdir(), 'guard-bench-')), 1, { persistent: false })
    url = server.url
  }
  const out = {}
  const info = new Redis(url)
  const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await info.info('memory'))[1])
  const store = async (prefix) => await RedisGuardStore.connect({
    store: { ...config.store, type: 'redis', url, keyPrefix: prefix, commandTimeout: 10_000 },
    events: { warn: (m) => process.stderr.write(`${m}\n`) }
  })
  const a = await store('gb-warm:')
  await windowed(guardOn(a), 20_000, job.window)
  await a.close()
  const b = await store('gb-run:')
  // redis-server's own CPU time: what one Redis core could do, whatever else the machine runs.
  const redisCpu = async () => { const t = await info.info('cpu'); return Number(/used_cpu_user:([\d.]+)/.exec(t)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(t)[1]) }
  const r0 = await redisCpu()
  out.guard = await windowed(guardOn(b), job.redisAttempts, job.window)
  const redisSeconds = await redisCpu() - r0
  out.guard.redisCpuUsPerPair = redisSeconds * 1e6 / job.redisAttempts
  out.guard.pairsPerRedisCpuSecond = job.redisAttempts / redisSeconds
  out.guardOneAtATime = await sequential(guardOn(b), 5_000, 1_000_000)
  await b.close()

  // Bytes per counter key: distinct users from distinct networks, one failure
  // each (userNetwork, network, user; the logins key was refunded: no key).
  await info.flushall()
  const c = await store('gb-mem:')
  const gc = guardOn(c)
  const n = 50_000
  const m0 = await usedMemory()
  let next = 0
  const fill = async () => {
    while (next < n) {
      const i = next++
      const d = await gc.attempt({ user: `distinct${i}`, caseInsensitive: false, address: `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, now: T0 })
      if (d.allowed) await gc.settle(d.ticket, 'failure', T0)
    }
  }
  await Promise.all(Array.from({ length: job.window }, fill))
  const m1 = await usedMemory()
  const keys1 = await info.dbsize()
  // Blocked keys: 10,000 userNetwork keys blocked (5 failures each; userNetwork only).
  const onlyUn = { ...rules, network: undefined, user: undefined, logins: undefined }
  const blocked = 10_000
  for (let i = 0; i < blocked; i += 100) {
    await Promise.all(Array.from({ length: 100 }, async (_, j) => {
      for (let k = 0; k < 5; k++) {
        const r = await c.charge({ id: `b${i + j}-${k}`, user: `bu${i + j}`, network: 'bn', device: false, now: T0, rules: onlyUn })
        if (r.allowed) await c.settle(r.ticket, 'failure', T0, onlyUn)
      }
    }))
  }
  const m2 = await usedMemory()
  out.memory = {
    counterKeys: keys1,
    bytesPerCounterKey: (m1 - m0) / keys1,
    bytesPerBlockedKey: (m2 - m1) / blocked,
    note: 'used_memory; a blocked key holds its block, its history and its entry in the blocks index'
  }
  await c.close()
  info.disconnect()
  if (server !== undefined) await stopAll()
  return out
}

const result = { node: process.version }
if (job.kinds.includes('memory')) result.memory = await memory()
if (job.kinds.includes('redis')) result.redis = await redis()
process.stdout.write(JSON.stringify(result) + '\n')
