#!/usr/bin/env node
// npm run soak [-- --minutes=10] [-- --only=memory|redis] [-- --no-docs]
//
// Memory under churn (issue #12): the gateway at full speed for `minutes` per
// store — many accounts signing in again and again under limit 1 (each login
// ends the account's previous session), page requests with live sessions,
// logouts, and requests with ended cookies (refused) — with sessions.maxAge
// scaled down to 2 minutes, so the ended window fills within the run. Every
// 10 s: the gateway's RSS and heap (after a full collection), the store's
// counts, and redis-server's used_memory. Memory must stay flat once the
// window is full. Writes bench/results/soak-<date>.json, docs/soak-memory.svg
// and the soak section of docs/benchmarks.md.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { Pool } from 'undici'
import { machine, onPath, startNode, startRedis, stopAll } from './lib.mjs'
import { soakChart, soakSection, soakVerdict, writeSoakSection } from './soak-report.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const arg = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback
const MINUTES = Number(arg('minutes', '10'))
const only = arg('only', undefined)?.split(',')
const writeDocs = !args.includes('--no-docs')
const ACCOUNTS = 200
const MAX_AGE = '2m'
const SAMPLE_MS = 10_000
const WORKERS = 48
const SECRET = 'soak-secret-0123456789abcdef0123456789abcdef'
const log = (...a) => { process.stderr.write(`${a.join(' ')}\n`) }

if (!existsSync(join(root, 'dist/proxy/gateway.js'))) {
  log('dist/ is missing: building it (npm run build)…')
  if (spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) process.exit(1)
}

function gatewayYaml (upstream, store) {
  return `upstream: ${upstream}
listen: { host: 127.0.0.1, port: 0 }
secret: ${SECRET}
log: { level: warn }
session: { cookie: sessionid }
login:
  - { method: POST, path: /login, user: { form: username }, status: [302] }
logout:
  - path: /logout
limit: 1
policy: evict-oldest
sessions: { maxAge: ${MAX_AGE} }
# Every account signs in several times a second: the guard's successful-login cap would refuse that (its counters stay on).
guard: { maxLoginsPerHour: 0 }
${store}
`
}

/** One gateway at full speed for MINUTES, sampled every 10 s. */
async function soak (kind, tmp) {
  const app = await startNode(join(here, 'servers/upstream.mjs'), [], { logFile: join(tmp, `upstream-${kind}.log`) })
  let redis
  let store = 'store: { type: memory }'
  if (kind === 'redis') {
    redis = await startRedis(join(tmp, 'redis'), undefined, { persistent: false })
    store = `store: { type: redis, url: "${redis.url}" }`
  }
  const gw = await startNode(join(here, 'servers/gateway.mjs'), [gatewayYaml(app.url, store)], { execArgv: ['--expose-gc'], logFile: join(tmp, `gateway-${kind}.log`) })
  const ask = (stats) => new Promise((resolve) => {
    const on = (m) => { if (m?.memory !== undefined) { gw.child.off('message', on); resolve(m) } }
    gw.child.on('message', on)
    gw.child.send({ cmd: 'memory', stats })
  })
  const redisMemory = () => {
    if (redis === undefined) return undefined
    const text = redis.cli('info', 'memory')
    const keys = Number(/keys=(\d+)/.exec(redis.cli('info', 'keyspace'))?.[1] ?? 0)
    return { usedMemory: Number(/^used_memory:(\d+)/m.exec(text)?.[1]), keys }
  }

  const pool = new Pool(gw.url, { connections: WORKERS, pipelining: 1 })
  const counts = { logins: 0, pages: 0, logouts: 0, refused: 0, errors: 0, unexpected: 0 }
  const send = async (method, path, cookie, body) => {
    const headers = { accept: 'application/json' }
    if (cookie !== undefined) headers.cookie = `sessionid=${cookie}`
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const r = await pool.request({ method, path, headers, body })
    await r.body.dump()
    return r
  }
  const ended = [] // a ring of cookies ended by the limit or by a logout: refused from now on
  let stop = false
  const worker = async (w) => {
    let i = w
    while (!stop) {
      try {
        const account = (i * 7919) % ACCOUNTS
        i += WORKERS
        const r = await send('POST', '/login', undefined, `username=acct${account}%40example.com&password=secret`)
        counts.logins++
        const cookie = /^sessionid=([^;]*)/.exec([].concat(r.headers['set-cookie'] ?? [])[0] ?? '')?.[1]
        if (cookie === undefined) { counts.unexpected++; continue }
        // A few pages with it (another login of the account may end it meanwhile: then 401 is right).
        for (let p = 0; p < 4 && !stop; p++) {
          const page = await send('GET', '/', cookie)
          if (page.statusCode === 200) counts.pages++
          else if (page.statusCode === 401) counts.refused++
          else counts.unexpected++
        }
        // One login in five signs out; the others are ended by the account's next login.
        if (i % 5 === 0) { await send('GET', '/logout', cookie); counts.logouts++ }
        ended[(i / WORKERS | 0) % 4096] = cookie
        // A request with an older, ended cookie: refused at the gateway.
        const old = ended[(i * 31) % 4096]
        if (old !== undefined && old !== cookie) {
          const r2 = await send('GET', '/', old)
          if (r2.statusCode === 401) counts.refused++
          else if (r2.statusCode !== 200) counts.unexpected++
        }
      } catch {
        counts.errors++
      }
    }
  }
  const t0 = Date.now()
  const samples = []
  const sample = async () => {
    const m = await ask(kind === 'memory')
    const s = {
      t: Math.round((Date.now() - t0) / 1000),
      rssMiB: m.memory.rss / 2 ** 20,
      heapMiB: m.memory.heapUsed / 2 ** 20,
      externalMiB: (m.memory.external + m.memory.arrayBuffers) / 2 ** 20,
      ...counts
    }
    if (m.stats !== undefined) { s.live = m.stats.live; s.ended = m.stats.ended }
    const r = redisMemory()
    if (r !== undefined) { s.redisMiB = r.usedMemory / 2 ** 20; s.redisKeys = r.keys }
    samples.push(s)
    log(`${kind} ${String(s.t).padStart(4)} s: rss ${s.rssMiB.toFixed(0)} MiB, heap ${s.heapMiB.toFixed(1)} MiB${s.ended === undefined ? '' : `, ${s.ended} ended`}${s.redisMiB === undefined ? '' : `, redis ${s.redisMiB.toFixed(1)} MiB (${s.redisKeys} keys)`}; ${s.logins} logins, ${s.pages} pages, ${s.refused} refused, ${s.logouts} logouts, ${s.errors} errors`)
  }
  await sample()
  const workers = Array.from({ length: WORKERS }, (_, w) => worker(w))
  const timer = setInterval(() => { void sample() }, SAMPLE_MS)
  await new Promise((resolve) => setTimeout(resolve, MINUTES * 60_000))
  clearInterval(timer)
  stop = true
  await Promise.all(workers)
  await sample()
  await pool.close()
  await stopAll()
  const seconds = (Date.now() - t0) / 1000
  return { kind, seconds, rates: { loginsPerSecond: counts.logins / seconds, pagesPerSecond: counts.pages / seconds }, counts: { ...counts }, samples, verdict: soakVerdict(samples, 120) }
}

const tmp = mkdtempSync(join(tmpdir(), 'sessioncap-soak-'))
const results = { date: new Date().toISOString(), minutes: MINUTES, accounts: ACCOUNTS, maxAge: MAX_AGE, workers: WORKERS, machine: machine(), runs: {} }
process.on('SIGINT', () => { void stopAll().then(() => process.exit(130)) })
try {
  for (const kind of ['memory', 'redis']) {
    if (only !== undefined && !only.includes(kind)) continue
    if (kind === 'redis' && !(onPath('redis-server') && onPath('redis-cli'))) { log('skipping redis: redis-server/redis-cli not installed'); continue }
    log(`— soak: ${kind} store, ${MINUTES} min —`)
    results.runs[kind] = await soak(kind, tmp)
    const v = results.runs[kind].verdict
    log(`${kind}: ${v.flat ? 'flat' : 'NOT FLAT'} — ${v.summary}`)
  }
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}
mkdirSync(join(here, 'results'), { recursive: true })
const file = join(here, 'results', `soak-${results.date.slice(0, 10)}.json`)
writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
log(`results: ${relative(root, file)}`)
if (writeDocs) {
  writeFileSync(join(root, 'docs/soak-memory.svg'), soakChart(results))
  writeSoakSection(join(root, 'docs/benchmarks.md'), soakSection(results, relative(root, file)))
  log('docs: docs/soak-memory.svg, the soak section of docs/benchmarks.md')
}
process.exitCode = Object.values(results.runs).every((r) => r.verdict.flat) ? 0 : 1
