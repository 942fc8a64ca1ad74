#!/usr/bin/env node
// npm run bench [-- --quick] [-- --no-docs] [-- --no-instructions | --instructions] [-- --only=a,b] [-- --pool=N]
//
// What sessioncap costs, side by side with what one would otherwise run
// (issue #7): the upstream alone, a bare @fastify/http-proxy, sessioncap with
// the memory and the Redis store, and nginx when installed — the same small
// upstream behind each, the same load, in alternating short rounds. Then
// admission (logins/s), refusals/s, the store's admit step alone, and memory
// per tracked session. Writes bench/results/<date>.json and (full run)
// docs/benchmarks.md and docs/benchmarks-rps.svg. See docs/benchmarks.md for the method.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  BENCH_LIMIT, cpuSeconds, disablePinning, gatewayYaml, loadRunner, machineBusySeconds, exchange, freePort, inParallel, login, machine, median, onPath, pinning, redisCommands,
  startNode, startNginx, startRedis, stopAll
} from './lib.mjs'
import { writeReport } from './report.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const writeDocs = args.includes('--docs') || (!quick && !args.includes('--no-docs'))
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',')
// Counting instructions under callgrind takes minutes: full runs only, unless asked for.
const countInstructions = args.includes('--instructions') || (!quick && !args.includes('--no-instructions'))

const P = quick
  ? { connections: 32, warmup: 1, rounds: 2, duration: 2, loginRounds: 2, loginDuration: 1, refuseRounds: 2, refuseDuration: 1, pool: 2_000, ended: 300, storeUsers: 50_000, redisUsers: 10_000, storm: 2_000, gatewayStorm: 100, memory: [100_000], endedMemory: 1_000_000, endedRedis: 100_000 }
  : { connections: 32, warmup: 3, rounds: 5, duration: 5, loginRounds: 5, loginDuration: 3, refuseRounds: 3, refuseDuration: 3, pool: 10_000, ended: 1_000, storeUsers: 300_000, redisUsers: 50_000, storm: 5_000, gatewayStorm: 200, memory: [100_000, 1_000_000], endedMemory: 10_000_000, endedRedis: 1_000_000 }
// --pool=N: how many users' cookies the page rounds cycle through (the Redis store's cache hit rate depends on it).
const poolArg = args.find((a) => a.startsWith('--pool='))
if (poolArg !== undefined) P.pool = Number(poolArg.slice(7))
const LIMIT = BENCH_LIMIT
const CORE_SERVER = 1
const CORE_LOAD = 0

const log = (...a) => { process.stderr.write(`${a.join(' ')}\n`) }
const skipped = []
const notes = []

// ---- preflight --------------------------------------------------------------
const gatewayJs = join(root, 'dist/proxy/gateway.js')
if (!existsSync(gatewayJs)) {
  log('dist/ is missing: building it (npm run build)…')
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) process.exit(1)
} else {
  const built = statSync(gatewayJs).mtimeMs
  const newer = []
  const walk = (d) => { for (const e of readdirSync(d, { withFileTypes: true })) { const p = join(d, e.name); if (e.isDirectory()) walk(p); else if (p.endsWith('.ts') && statSync(p).mtimeMs > built) newer.push(relative(root, p)) } }
  walk(join(root, 'src'))
  if (newer.length > 0) {
    const msg = `dist/ is older than ${newer.length} file(s) under src/ (${newer.slice(0, 3).join(', ')}${newer.length > 3 ? ', …' : ''}): this run measures the compiled dist/; run \`npm run build\` first to measure the sources`
    log(`warning: ${msg}`)
    notes.push(msg)
  }
}
const cores = Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout.trim()) || 1
if (!pinning) { skipped.push('pinning: `taskset` is not installed (util-linux), so the proxy and the load generator share all cores'); }
if (cores < 2) { disablePinning(); skipped.push('pinning: fewer than 2 cores') }
const haveRedis = onPath('redis-server') && onPath('redis-cli')
if (!haveRedis) skipped.push('Redis store: `redis-server`/`redis-cli` not installed (Debian: apt-get install redis-server)')
const haveNginx = onPath('nginx')
if (!haveNginx) skipped.push('nginx: not installed (Debian: apt-get install nginx)')
for (const s of skipped) log(`skipping ${s}`)

const want = (name) => only === undefined || only.includes(name)
const tmp = mkdtempSync(join(tmpdir(), 'sessioncap-bench-'))
log(`bench: ${quick ? 'quick' : 'full'} run, work files in ${tmp}`)
process.on('SIGINT', () => { void stopAll().then(() => process.exit(130)) })

const results = {
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  machine: machine(),
  // What was measured: the compiled dist/ of this commit (dirty: with uncommitted changes under src/).
  source: {
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() || null,
    dirtySrc: spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).stdout.trim() !== ''
  },
  parameters: { ...P, limit: LIMIT, pinned: pinning && cores >= 2, serverCore: CORE_SERVER, loadCore: CORE_LOAD },
  skipped,
  notes,
  variants: {},
  sideBySide: {},
  sideBySideLogins: {},
  admission: {},
  refusal: {},
  gatewayStorm: {},
  storeAdmit: {},
  guardLogins: {},
  guardAdmit: {},
  memory: {},
  targets: []
}

let load
try {
  // ---- processes ------------------------------------------------------------
  load = await startNode(join(here, 'load.mjs'), [], { core: CORE_LOAD, logFile: join(tmp, 'load.log') })
  const runLoad = loadRunner(load, { connections: P.connections })

  // The app behind the proxies shares the load generator's core, so the
  // proxy under test has a core of its own; the "direct" variant is a second
  // copy of the app on the server core.
  const app = await startNode(join(here, 'servers/upstream.mjs'), [], { core: CORE_LOAD, logFile: join(tmp, 'upstream.log') })
  const variants = []
  if (want('direct')) {
    const direct = await startNode(join(here, 'servers/upstream.mjs'), [], { core: CORE_SERVER, logFile: join(tmp, 'upstream-direct.log') })
    variants.push({ name: 'direct', label: 'upstream direct', url: direct.url, pids: () => [direct.pid] })
  }
  const bare = await startNode(join(here, 'servers/bare-proxy.mjs'), [app.url], { core: CORE_SERVER, logFile: join(tmp, 'bare.log') })
  variants.push({ name: 'bare', label: 'bare @fastify/http-proxy', url: bare.url, pids: () => [bare.pid] })
  const memGw = await startNode(join(here, 'servers/gateway.mjs'), [gatewayYaml(app.url, 'store: { type: memory }')], { core: CORE_SERVER, logFile: join(tmp, 'gateway-memory.log') })
  variants.push({ name: 'memory', label: 'sessioncap, memory store', url: memGw.url, pids: () => [memGw.pid], gateway: true })
  let redis
  if (haveRedis && want('redis')) {
    redis = await startRedis(join(tmp, 'redis'), CORE_LOAD)
    const redisGw = await startNode(join(here, 'servers/gateway.mjs'), [gatewayYaml(app.url, `store: { type: redis, url: "${redis.url}" }`)], { core: CORE_SERVER, logFile: join(tmp, 'gateway-redis.log') })
    variants.push({ name: 'redis', label: 'sessioncap, Redis store', url: redisGw.url, pids: () => [redisGw.pid], gateway: true, sidePids: () => [redis.pid], storeCommands: () => redisCommands(redis) })
  }
  if (haveNginx && want('nginx')) {
    const nginx = await startNginx(join(tmp, 'nginx'), app.url, CORE_SERVER)
    variants.push({ name: 'nginx', label: 'nginx reverse proxy', url: nginx.url, pids: nginx.pids })
  }
  const byName = Object.fromEntries(variants.map((v) => [v.name, v]))

  // ---- sessions: a pool of live ones per gateway, and ended ones ------------
  for (const v of variants.filter((x) => x.gateway)) {
    const t0 = Date.now()
    v.pool = (await inParallel(P.pool, 32, (i) => login(v.url, `user${i}@example.com`))).filter(Boolean)
    if (v.pool.length !== P.pool) throw new Error(`${v.name}: only ${v.pool.length} of ${P.pool} logins returned a session cookie`)
    const check = await exchange(v.url, 'GET', '/', { cookie: `sessionid=${v.pool[0]}` })
    if (check.status !== 200) throw new Error(`${v.name}: a live session got ${check.status}`)
    // Ended sessions: each user signs in LIMIT+1 times; the first session is ended by the last.
    v.ended = await inParallel(P.ended, 16, async (i) => {
      const first = await login(v.url, `gone${i}@example.com`)
      for (let k = 0; k < LIMIT; k++) await login(v.url, `gone${i}@example.com`)
      return first
    })
    const refused = await exchange(v.url, 'GET', '/', { cookie: `sessionid=${v.ended[0]}` })
    if (refused.status !== 401) throw new Error(`${v.name}: an ended session got ${refused.status}, not 401`)
    log(`${v.name}: ${v.pool.length} users signed in, ${v.ended.length} ended sessions (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
  }
  // The other variants get the same cookies (opaque to them), so every variant parses the same requests.
  const pool = byName.memory.pool
  for (const v of variants) v.pool ??= pool

  // ---- rounds ---------------------------------------------------------------
  async function measure (v, job) {
    const side = v.sidePids?.() ?? []
    const ours = () => cpuSeconds([...v.pids(), ...side, app.pid, load.pid, process.pid])
    const m0 = machineBusySeconds(); const o0 = ours()
    const k0 = v.storeCommands?.()
    const c0 = cpuSeconds(v.pids()); const s0 = cpuSeconds(side); const a0 = cpuSeconds([app.pid])
    const r = await runLoad({ url: v.url, ...job })
    const c1 = cpuSeconds(v.pids()); const s1 = cpuSeconds(side); const a1 = cpuSeconds([app.pid])
    const k1 = v.storeCommands?.()
    const m1 = machineBusySeconds(); const o1 = ours()
    const cpu = c1 - c0
    return {
      rps: r.rps,
      requests: r.requests,
      seconds: r.seconds,
      p50: r.p50,
      p99: r.p99,
      status: r.status,
      errors: r.errors + r.timeouts,
      cpuUsPerRequest: r.requests > 0 ? cpu * 1e6 / r.requests : null,
      proxyCpuShare: cpu / r.seconds,
      generatorCpuShare: r.generatorCpuSeconds / r.seconds,
      upstreamCpuShare: v.name === 'direct' ? null : (a1 - a0) / r.seconds,
      sideCpuUsPerRequest: side.length > 0 && r.requests > 0 ? (s1 - s0) * 1e6 / r.requests : null,
      // Redis script calls (round trips) per request: how often the gateway's cache was not enough.
      storeCommandsPerRequest: k0 !== undefined && k1 !== undefined && r.requests > 0 ? (k1 - k0) / r.requests : null,
      // CPU the rest of the machine used meanwhile (other processes), in cores: it competes with the round.
      foreignCores: Math.max(0, ((m1 - m0) - (o1 - o0)) / r.seconds)
    }
  }

  /** Rounds of the reference (the bare proxy) and `v` loaded at the same time; medians of each and of the ratios within a round. */
  async function sideBySide (v, n, jobOf, what, ref = byName.bare) {
    const pairs = []
    for (let r = 0; r < n; r++) {
      const m = await measurePair(ref, v, jobOf)
      pairs.push(m)
      log(`${what} side by side ${r + 1}/${n} ${ref.name} ${m.bare.rps.toFixed(0)}/s ${m.bare.cpuUsPerRequest?.toFixed(1)} µs/req | ${v.name} ${m.other.rps.toFixed(0)}/s ${m.other.cpuUsPerRequest?.toFixed(1)} µs/req (others ${(m.foreignCores * 100).toFixed(0)}%)`)
    }
    return {
      label: v.label,
      reference: ref.label,
      rounds: pairs,
      bareRps: median(pairs.map((p) => p.bare.rps)),
      rps: median(pairs.map((p) => p.other.rps)),
      bareCpuUsPerRequest: median(pairs.map((p) => p.bare.cpuUsPerRequest)),
      cpuUsPerRequest: median(pairs.map((p) => p.other.cpuUsPerRequest)),
      rpsRatio: median(pairs.map((p) => p.other.rps / p.bare.rps)),
      cpuRatio: median(pairs.map((p) => p.other.cpuUsPerRequest / p.bare.cpuUsPerRequest)),
      errors: pairs.reduce((a, p) => a + p.bare.errors + p.other.errors, 0)
    }
  }

  /** The bare proxy and another variant under the same load at the same time. */
  async function measurePair (bareV, other, jobOf) {
    const m0 = machineBusySeconds()
    const pids = [...bareV.pids(), ...other.pids(), ...(other.sidePids?.() ?? []), app.pid, load.pid, process.pid]
    const o0 = cpuSeconds(pids)
    const b0 = cpuSeconds(bareV.pids()); const x0 = cpuSeconds(other.pids())
    const [rb, rx] = await Promise.all([runLoad({ url: bareV.url, ...jobOf(bareV) }), runLoad({ url: other.url, ...jobOf(other) })])
    const b1 = cpuSeconds(bareV.pids()); const x1 = cpuSeconds(other.pids())
    const m1 = machineBusySeconds(); const o1 = cpuSeconds(pids)
    const one = (r, cpu) => ({ rps: r.rps, requests: r.requests, p50: r.p50, p99: r.p99, errors: r.errors + r.timeouts, status: r.status, cpuUsPerRequest: r.requests > 0 ? cpu * 1e6 / r.requests : null })
    return { bare: one(rb, b1 - b0), other: one(rx, x1 - x0), foreignCores: Math.max(0, ((m1 - m0) - (o1 - o0)) / Math.max(rb.seconds, rx.seconds)) }
  }

  /** Alternating rounds: every round runs each variant once, in a rotated order. */
  async function rounds (list, n, jobOf, what) {
    const out = Object.fromEntries(list.map((v) => [v.name, []]))
    for (let r = 0; r < n; r++) {
      const order = list.map((_, i) => list[(i + r) % list.length])
      for (const v of order) {
        const m = await measure(v, jobOf(v))
        m.round = r
        out[v.name].push(m)
        log(`${what} round ${r + 1}/${n} ${v.name.padEnd(7)} ${m.rps.toFixed(0).padStart(6)}/s p50 ${m.p50?.toFixed(2)} ms p99 ${m.p99?.toFixed(2)} ms cpu ${m.cpuUsPerRequest?.toFixed(1)} µs/req (proxy ${(m.proxyCpuShare * 100).toFixed(0)}%, generator ${(m.generatorCpuShare * 100).toFixed(0)}%, others ${(m.foreignCores * 100).toFixed(0)}%)${m.errors > 0 ? ` ${m.errors} errors` : ''}`)
      }
    }
    return out
  }

  /** Medians, and ratios to the reference paired round by round (the same minute's conditions). */
  function summarise (list, raw, ref) {
    const out = {}
    for (const v of list) {
      const rs = raw[v.name]
      const paired = (f) => median(rs.map((m, i) => { const b = raw[ref]?.[i]; return b === undefined ? null : f(m, b) }))
      out[v.name] = {
        label: v.label,
        rounds: rs,
        rps: median(rs.map((m) => m.rps)),
        p50: median(rs.map((m) => m.p50)),
        p99: median(rs.map((m) => m.p99)),
        cpuUsPerRequest: median(rs.map((m) => m.cpuUsPerRequest)),
        generatorCpuShare: median(rs.map((m) => m.generatorCpuShare)),
        proxyCpuShare: median(rs.map((m) => m.proxyCpuShare)),
        upstreamCpuShare: median(rs.map((m) => m.upstreamCpuShare)),
        sideCpuUsPerRequest: median(rs.map((m) => m.sideCpuUsPerRequest)),
        storeCommandsPerRequest: median(rs.map((m) => m.storeCommandsPerRequest)),
        foreignCores: median(rs.map((m) => m.foreignCores)),
        statuses: rs.reduce((acc, m) => { for (const [k, c] of Object.entries(m.status)) acc[k] = (acc[k] ?? 0) + c; return acc }, {}),
        errors: rs.reduce((a, m) => a + m.errors, 0),
        rpsRatio: raw[ref] === undefined ? null : paired((m, b) => m.rps / b.rps),
        cpuRatio: raw[ref] === undefined ? null : paired((m, b) => m.cpuUsPerRequest / b.cpuUsPerRequest),
        p99Delta: raw[ref] === undefined ? null : paired((m, b) => m.p99 - b.p99)
      }
    }
    return out
  }

  // 1. Requests with a live session cookie.
  log('— requests with a live session —')
  const pageJob = (v) => ({ path: '/', cookies: v.pool })
  for (const v of variants) await measure(v, { ...pageJob(v), duration: P.warmup })
  results.variants = summarise(variants, await rounds(variants, P.rounds, (v) => ({ ...pageJob(v), duration: P.duration }), 'requests'), 'bare')

  // 1b. Side by side: the bare proxy and one other variant loaded at the same
  // time, both on the proxies' core, which the kernel shares out between them:
  // whatever the machine's speed that minute, both get the same. Requests/s
  // and CPU per request are compared within each such round.
  log('— side by side with the bare proxy (both loaded at once, sharing one core) —')
  for (const v of variants.filter((x) => x.name !== 'bare')) {
    results.sideBySide[v.name] = await sideBySide(v, P.rounds, (x) => ({ ...pageJob(x), duration: P.duration }), 'requests')
  }

  // 2. Admission through the gateway: every request a login of a new session.
  log('— logins through the gateway —')
  const loginList = variants.filter((v) => v.name === 'bare' || v.gateway)
  let wave = 0
  const loginJob = () => ({ loginUsers: { prefix: `w${++wave}-`, count: 1_000_000 }, duration: P.loginDuration })
  for (const v of loginList) await measure(v, { ...loginJob(), duration: P.warmup })
  results.admission = summarise(loginList, await rounds(loginList, P.loginRounds, loginJob, 'logins'), 'bare')
  for (const v of loginList.filter((x) => x.gateway)) results.sideBySideLogins[v.name] = await sideBySide(v, P.loginRounds, loginJob, 'logins')

  // 2b. The login guard's cost: two fresh gateways, the guard on (the
  // default) and off, started together and warmed up alike (a gateway that
  // has served the rounds above holds a bigger store and a warmer heap), then
  // loaded with logins at the same time (every login a new user, all from
  // 127.0.0.1: each is charged and settled as a success).
  log('— logins with the login guard on vs off, side by side —')
  const stores = { memory: () => 'store: { type: memory }' }
  if (redis !== undefined) stores.redis = (which) => `store: { type: redis, url: "${redis.url}", keyPrefix: "guardbench-${which}:" }`
  for (const [kind, store] of Object.entries(stores)) {
    const pair = {}
    for (const [which, extra] of [['on', ''], ['off', '\nguard: false']]) {
      const gw = await startNode(join(here, 'servers/gateway.mjs'), [gatewayYaml(app.url, `${store(which)}${extra}`)], { core: CORE_SERVER, logFile: join(tmp, `gateway-${kind}-guard-${which}.log`) })
      pair[which] = { name: `${kind}-guard-${which}`, label: `sessioncap, ${kind === 'redis' ? 'Redis' : 'memory'} store, guard ${which}`, url: gw.url, pids: () => [gw.pid], gateway: true, stop: () => { gw.child.disconnect() } }
    }
    for (let w = 0; w < 2; w++) for (const v of [pair.off, pair.on]) await measure(v, { ...loginJob(), duration: P.warmup })
    results.guardLogins[kind] = await sideBySide(pair.on, P.loginRounds, loginJob, `logins (guard off | on, ${kind})`, pair.off)
    pair.on.stop()
    pair.off.stop()
  }

  // 3. Refusals: every request carries an ended session's cookie.
  log('— requests with an ended session (refused) —')
  const refuseList = variants.filter((v) => v.gateway)
  for (const v of refuseList) await measure(v, { path: '/', cookies: v.ended, duration: P.warmup })
  results.refusal = summarise(refuseList, await rounds(refuseList, P.refuseRounds, (v) => ({ path: '/', cookies: v.ended, duration: P.refuseDuration }), 'refusals'), null)

  // 4. One user, many concurrent logins through the gateway: exactly LIMIT sessions must still pass.
  for (const v of refuseList) {
    const user = `storm-${v.name}@example.com`
    const t0 = process.hrtime.bigint()
    const cookies = (await inParallel(P.gatewayStorm, P.gatewayStorm, () => login(v.url, user))).filter(Boolean)
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    const statuses = await inParallel(cookies.length, 32, async (i) => (await exchange(v.url, 'GET', '/', { cookie: `sessionid=${cookies[i]}` })).status)
    const passing = statuses.filter((s) => s === 200).length
    results.gatewayStorm[v.name] = { logins: P.gatewayStorm, cookies: cookies.length, seconds, passing, refused: statuses.filter((s) => s === 401).length, ok: passing === LIMIT }
    log(`storm through ${v.name}: ${P.gatewayStorm} concurrent logins of one user → ${passing} sessions pass (limit ${LIMIT})`)
  }

  // Nothing but the in-process steps from here: the servers can go.
  await stopAll()
  load = undefined

  // 5. The store's admit step alone, in process (pinned to the server core).
  log('— the admit step alone —')
  const admitChild = (job) => {
    const r = spawnSync(pinning ? 'taskset' : process.execPath, pinning ? ['-c', String(CORE_SERVER), process.execPath, join(here, 'store-admit.mjs'), JSON.stringify(job)] : [join(here, 'store-admit.mjs'), JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 20 })
    if (r.status !== 0) throw new Error(`store-admit ${job.kind} failed: ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').pop())
  }
  results.storeAdmit.memory = admitChild({ kind: 'memory', users: P.storeUsers, storm: P.storm })
  log(`memory store: ${results.storeAdmit.memory.many.perSecond.toFixed(0)} admits/s; storm of ${P.storm}: ${results.storeAdmit.memory.storm.sessionsLeft} sessions left`)
  if (haveRedis && want('redis')) {
    const r2 = await startRedis(join(tmp, 'redis-admit'), CORE_LOAD, { persistent: false })
    results.storeAdmit.redis = admitChild({ kind: 'redis', redisUrl: r2.url, users: P.redisUsers, storm: P.storm, window: 256 })
    results.storeAdmit.redis.redisCpuNote = 'redis-server on the other core'
    log(`redis store: ${results.storeAdmit.redis.many.perSecond.toFixed(0)} admits/s pipelined; ${results.storeAdmit.redis.redisBytesPerSession?.toFixed(0)} bytes/session in Redis; storm of ${P.storm}: ${results.storeAdmit.redis.storm.sessionsLeft} sessions left`)
    await stopAll()
  }

  // 5b. The login guard's two steps alone (attempt then settle), in process (bench/guard-admit.mjs).
  log('— the login guard\'s steps alone —')
  {
    const job = { kinds: ['memory'], attempts: quick ? 100_000 : 300_000, redisAttempts: quick ? 20_000 : 100_000, window: 256 }
    let r4
    if (haveRedis && want('redis')) {
      r4 = await startRedis(join(tmp, 'redis-guard'), CORE_LOAD, { persistent: false })
      job.kinds.push('redis')
      job.redisUrl = r4.url
    }
    const r = spawnSync(pinning ? 'taskset' : process.execPath, [...(pinning ? ['-c', String(CORE_SERVER), process.execPath] : []), '--expose-gc', join(here, 'guard-admit.mjs'), JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 1 << 20 })
    if (r.status !== 0) throw new Error(`guard-admit.mjs failed: ${r.stderr}`)
    results.guardAdmit = JSON.parse(r.stdout.trim().split('\n').pop())
    const G = results.guardAdmit
    log(`login guard, memory: ${G.memory.guard.perCpuSecond.toFixed(0)} attempt+settle pairs per CPU second${G.redis === undefined ? '' : `; Redis: ${G.redis.guard.pairsPerRedisCpuSecond.toFixed(0)} pairs per Redis CPU second, ${G.redis.guard.perSecond.toFixed(0)}/s`}`)
    if (r4 !== undefined) await stopAll()
  }

  // 6. Memory per tracked session (memory store), each size in a fresh process.
  log('— memory per session —')
  for (const n of P.memory) {
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', join(here, 'memory.mjs'), String(n)], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`memory.mjs ${n} failed: ${r.stderr}`)
    results.memory[n] = JSON.parse(r.stdout.trim().split('\n').pop())
    log(`memory store, ${n} sessions: ${results.memory[n].heapBytesPerSession.toFixed(0)} B heap, ${results.memory[n].rssBytesPerSession.toFixed(0)} B RSS per session`)
  }

  // 6b. Memory per ended session, in each store (bench/ended-memory.mjs), each in a fresh process.
  log('— memory per ended session —')
  const endedRun = (args) => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', join(here, 'ended-memory.mjs'), ...args], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`ended-memory.mjs ${args.join(' ')} failed: ${r.stderr}`)
    return JSON.parse(r.stdout.trim().split('\n').pop())
  }
  results.endedMemory = { memory: endedRun(['memory', String(P.endedMemory)]) }
  log(`memory store, ${P.endedMemory} ended sessions: ${results.endedMemory.memory.bytesPerEnded.toFixed(1)} B each`)
  if (haveRedis && want('redis')) {
    const r3 = await startRedis(join(tmp, 'redis-ended'), CORE_LOAD, { persistent: false })
    results.endedMemory.redis = endedRun([r3.url, String(P.endedRedis)])
    log(`redis store, ${P.endedRedis} ended sessions: ${results.endedMemory.redis.bytesPerEnded.toFixed(1)} B each (used_memory)`)
    await stopAll()
  }

  // 7. Instructions per request under callgrind: the CPU measure that does not drift (bench/instructions.mjs).
  if (countInstructions) {
    log('— instructions per request (callgrind; a few minutes) —')
    const r = spawnSync(process.execPath, [join(here, 'instructions.mjs'), ...(quick ? ['--pool', String(P.pool), '--warmup', '3000', '--requests', '1000'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (r.status !== 0) throw new Error('bench/instructions.mjs failed')
    const out = JSON.parse(r.stdout.trim().split('\n').pop())
    if (out.skipped !== undefined) skipped.push(`instructions per request: ${out.skipped}`)
    else results.instructions = out
  }
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}

// Other work on the machine competes with the rounds: say how much there was.
{
  const all = [results.variants, results.admission, results.refusal].flatMap((g) => Object.values(g).flatMap((v) => v.rounds))
  const busy = all.filter((m) => m.foreignCores > 0.25)
  results.foreignCores = { median: median(all.map((m) => m.foreignCores)), max: Math.max(0, ...all.map((m) => m.foreignCores)), disturbedRounds: busy.length, rounds: all.length }
  if (busy.length > 0) {
    const msg = `other processes used more than a quarter of a core during ${busy.length} of ${all.length} rounds (median ${Math.round(results.foreignCores.median * 100)}%, at most ${Math.round(results.foreignCores.max * 100)}% of a core): requests/s of those rounds are low; CPU per request and the paired ratios are less affected`
    notes.push(msg)
    log(`warning: ${msg}`)
  }
}

// The load generator must not set the pace: say where it did.
for (const [what, group] of [['requests', results.variants], ['logins', results.admission], ['refusals', results.refusal]]) {
  for (const v of Object.values(group)) {
    if (v.generatorCpuShare > 0.9) notes.push(`${what}, ${v.label}: the load generator used ${Math.round(v.generatorCpuShare * 100)}% of its core (the proxy ${Math.round(v.proxyCpuShare * 100)}% of its own): this variant's requests/s is a lower bound, set by the generator`)
  }
}

// ---- targets ----------------------------------------------------------------
function target (name, value, pass, wanted, unit = '') {
  results.targets.push({ name, value, wanted, pass: value === null || value === undefined ? null : pass, unit })
}
const V = results.variants
const A = results.admission
const fmt = (x, d = 2) => x === null || x === undefined ? null : Number(x.toFixed(d))
// Efficiency targets from the side-by-side rounds (the same minute's machine for both), else the alternating ones.
const S = results.sideBySide
const eff = (name) => S[name] ?? V[name]
if (V.memory !== undefined) {
  target('memory store: requests/s vs bare proxy (side by side)', fmt(eff('memory').rpsRatio), eff('memory').rpsRatio >= 0.95, '≥ 0.95×')
  target('memory store: CPU per request vs bare proxy (side by side)', fmt(eff('memory').cpuRatio), eff('memory').cpuRatio <= 1.05, '≤ 1.05×')
  target('memory store: p99 above bare proxy', fmt(V.memory.p99Delta), V.memory.p99Delta <= 0.5, '≤ +0.5 ms', ' ms')
}
if (V.redis !== undefined) {
  target('Redis store: requests/s vs bare proxy (side by side)', fmt(eff('redis').rpsRatio), eff('redis').rpsRatio >= 0.90, '≥ 0.90×')
  target('Redis store: CPU per request vs bare proxy (side by side)', fmt(eff('redis').cpuRatio), eff('redis').cpuRatio <= 1 / 0.90, '≤ 1.11× (= 1/0.90)')
  target('Redis store: p99 above bare proxy', fmt(V.redis.p99Delta), V.redis.p99Delta <= 0.5, '≤ +0.5 ms', ' ms')
}
const SL = results.sideBySideLogins
for (const [name, label] of [['memory', 'memory'], ['redis', 'Redis']]) {
  const a = SL[name] ?? A[name]
  if (a !== undefined) target(`logins through the gateway, ${label} store, vs bare proxy (side by side)`, fmt(a.rpsRatio), a.rpsRatio >= 0.85, '≥ 0.85×')
}
const GL = results.guardLogins ?? {}
for (const [name, label] of [['memory', 'memory'], ['redis', 'Redis']]) {
  if (GL[name] !== undefined) target(`logins with the login guard on vs off, ${label} store (side by side)`, fmt(GL[name].rpsRatio), GL[name].rpsRatio >= 0.90, '≥ 0.90×')
}
const GA = results.guardAdmit ?? {}
if (GA.memory !== undefined) target('login guard: attempt+settle alone, memory (per CPU second)', Math.round(GA.memory.guard.perCpuSecond), GA.memory.guard.perCpuSecond >= 100_000, '≥ 100,000/s', '/s')
if (GA.redis !== undefined) target('login guard: attempt+settle alone, Redis (per Redis CPU second)', Math.round(GA.redis.guard.pairsPerRedisCpuSecond), GA.redis.guard.pairsPerRedisCpuSecond >= 10_000, '≥ 10,000/s', '/s')
const SA = results.storeAdmit
if (SA.memory !== undefined) target('admit step alone, memory store', Math.round(SA.memory.many.perSecond), SA.memory.many.perSecond >= 100_000, '≥ 100,000/s', '/s')
if (SA.redis !== undefined) target('admit step alone, Redis store (pipelined, one process)', Math.round(SA.redis.many.perSecond), SA.redis.many.perSecond >= 10_000, '≥ 10,000/s', '/s')
for (const [kind, r] of Object.entries(SA)) target(`one-user storm (${r.storm.logins} concurrent logins, limit ${LIMIT}), ${kind} store: sessions left`, r.storm.sessionsLeft, r.storm.ok, `exactly ${LIMIT}`)
for (const [kind, r] of Object.entries(results.gatewayStorm)) target(`one-user storm through the gateway (${r.logins} concurrent logins), ${kind} store: sessions still passing`, r.passing, r.ok, `exactly ${LIMIT}`)
const big = results.memory[1_000_000] ?? results.memory[Math.max(...Object.keys(results.memory).map(Number))]
if (big !== undefined) target(`memory store: heap per tracked session at ${big.sessions.toLocaleString('en')} sessions`, Math.round(big.heapBytesPerSession), big.heapBytesPerSession <= 300, '≤ 300 B', ' B')
const EM = results.endedMemory ?? {}
if (EM.memory !== undefined) target(`memory store: memory per ended session at ${EM.memory.sessions.toLocaleString('en')}`, EM.memory.bytesPerEnded.toFixed(1), EM.memory.bytesPerEnded <= 32, '≤ 32 B', ' B')
if (EM.redis !== undefined) target(`Redis store: used_memory per ended session at ${EM.redis.sessions.toLocaleString('en')}`, EM.redis.bytesPerEnded.toFixed(1), EM.redis.bytesPerEnded <= 80, '≤ 80 B', ' B')

// ---- output -----------------------------------------------------------------
const day = results.date.slice(0, 10)
mkdirSync(join(here, 'results'), { recursive: true })
const file = join(here, 'results', `${day}${quick ? '-quick' : ''}.json`)
writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
log(`results: ${relative(root, file)}`)
const { table } = writeReport(results, { root, resultsFile: relative(root, file), docs: writeDocs })
process.stdout.write(`${table}\n`)
if (writeDocs) log('docs: docs/benchmarks.md, docs/benchmarks-rps.svg')
for (const s of skipped) log(`skipped ${s}`)
