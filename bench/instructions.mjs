#!/usr/bin/env node
// Instructions per proxied request, counted by valgrind's callgrind: a
// measure of CPU cost that does not follow the machine's speed (requests/s
// and CPU time move by ±40% within a minute here). It is not exact either:
// V8 compiles and collects on its own schedule, so counts of one build vary
// between runs (sessioncap's main thread by ~10% here, the bare proxy's by up
// to 50%); read several runs as a range.
//
// The bare proxy and sessioncap (memory store, a pool of live sessions put in
// its store through a snapshot) each run under callgrind, side by side; each
// gets the same page traffic as `npm run bench` (every request a live
// session's cookie, in turn), a warm-up, then a fixed number of requests
// whose instructions are counted: for the main thread (where the JavaScript
// and the HTTP parsing run) and for all threads (V8's garbage collector and
// compiler helpers, whose share varies from run to run).
//
// What it cannot see: time that is not instructions (cache misses, branch
// mispredictions) and time-driven work (timers), which under callgrind's
// ~50× slowdown is spread over 50× fewer requests.
//
//   node bench/instructions.mjs [--warmup N] [--requests N] [--pool N] [--cache]
// --cache: also simulate the caches and branch predictors (slower), and print
// cache misses and mispredicted branches per request.
// Prints a table; the last line of stdout is JSON (bench/run.mjs reads it).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exchange, inParallel, login, onPath, startNode, stopAll } from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const opt = (name, dflt) => { const i = args.indexOf(`--${name}`); return i === -1 ? dflt : Number(args[i + 1]) }
const WARMUP = opt('warmup', 6_000)
const REQUESTS = opt('requests', 2_000)
const POOL = opt('pool', 10_000)
const CACHE = args.includes('--cache')
const log = (...a) => { process.stderr.write(`${a.join(' ')}\n`) }

if (!onPath('valgrind') || !onPath('callgrind_control')) {
  process.stdout.write(JSON.stringify({ skipped: 'valgrind is not installed (Debian: apt-get install valgrind)' }) + '\n')
  process.exit(0)
}

const tmp = mkdtempSync(join(tmpdir(), 'sessioncap-instr-'))
const yaml = (upstream, snapshot, interval) => `upstream: ${upstream}
listen: { host: 127.0.0.1, port: 0 }
secret: bench-secret-0123456789abcdef0123456789abcdef
session: { cookie: sessionid }
login:
  - { method: POST, path: /login, user: { form: username }, status: [302] }
logout:
  - path: /logout
limit: 2
store: { type: memory, snapshot: "${snapshot}", snapshotInterval: ${interval} }
`

try {
  const load = await startNode(join(here, 'load.mjs'), [])
  const app = await startNode(join(here, 'servers/upstream.mjs'), [])
  let jobId = 0
  const runLoad = (job) => new Promise((resolve, reject) => {
    const id = ++jobId
    const on = (m) => { if (m?.id !== id) return; load.child.off('message', on); if (m.error !== undefined) reject(new Error(m.error)); else resolve(m.result) }
    load.child.on('message', on)
    load.child.send({ id, connections: 8, path: '/', ...job })
  })

  // The pool: users signed in through a gateway run at full speed, whose
  // store is then saved to the snapshot the measured gateway starts from.
  const snapshot = join(tmp, 'sessions.snapshot')
  const seeder = await startNode(join(here, 'servers/gateway.mjs'), [yaml(app.url, snapshot, '1m')])
  const pool = (await inParallel(POOL, 32, (i) => login(seeder.url, `user${i}@example.com`))).filter(Boolean)
  if (pool.length !== POOL) throw new Error(`only ${pool.length} of ${POOL} logins returned a session cookie`)
  seeder.child.disconnect()
  await new Promise((resolve) => { seeder.child.once('exit', resolve) })
  log(`instructions: ${POOL} sessions signed in and saved; starting both under callgrind`)

  const underCallgrind = async (name, file, serverArgs) => {
    const out = join(tmp, `${name}.%p.callgrind`)
    const proc = await startNode(file, serverArgs, {
      execPath: 'valgrind',
      execArgv: ['--tool=callgrind', '--separate-threads=yes', ...(CACHE ? ['--cache-sim=yes', '--branch-sim=yes'] : []), '--dump-line=no', '--compress-strings=no', `--callgrind-out-file=${out}`, process.execPath],
      logFile: join(tmp, `${name}.log`)
    })
    return { name, proc }
  }
  const targets = await Promise.all([
    underCallgrind('bare', join(here, 'servers/bare-proxy.mjs'), [app.url]),
    // No snapshot is written while counting (one is read at start).
    underCallgrind('memory', join(here, 'servers/gateway.mjs'), [yaml(app.url, snapshot, '24h')])
  ])
  const check = await exchange(targets[1].proc.url, 'GET', '/', { cookie: `sessionid=${pool[0]}` })
  if (check.status !== 200) throw new Error(`the measured gateway answered ${check.status} to a live session: the snapshot was not restored`)

  const measured = await Promise.all(targets.map(async ({ name, proc }) => {
    const t0 = Date.now()
    await runLoad({ url: proc.url, amount: WARMUP, cookies: pool })
    spawnSync('callgrind_control', ['--zero', String(proc.pid)])
    const r = await runLoad({ url: proc.url, amount: REQUESTS, cookies: pool })
    spawnSync('callgrind_control', ['--dump', String(proc.pid)])
    if (r.status['2xx'] !== r.requests) throw new Error(`${name}: ${JSON.stringify(r.status)} of ${r.requests} requests`)
    const threads = readdirSync(tmp).filter((f) => f.startsWith(`${name}.${proc.pid}.callgrind.`)).sort().map((f) => totals(join(tmp, f)))
    const all = threads.reduce((a, t) => a + (t.Ir ?? 0), 0)
    log(`instructions: ${name} counted (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
    const perRequest = (t) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v / r.requests]))
    // A request that timed out (10 s) was worked on but not counted: it would inflate the figures.
    const lost = r.errors + r.timeouts
    if (lost > 0) log(`instructions: warning: ${name} had ${lost} errors or timeouts among the counted requests`)
    return { name, requests: r.requests, errorsOrTimeouts: lost, mainThread: threads[0].Ir / r.requests, allThreads: all / r.requests, ...(CACHE ? { mainThreadEvents: perRequest(threads[0]) } : {}) }
  }))
  const result = {
    warmup: WARMUP,
    requests: REQUESTS,
    pool: POOL,
    valgrind: spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).stdout.trim(),
    variants: Object.fromEntries(measured.map((m) => [m.name, m]))
  }
  const b = result.variants.bare
  for (const m of measured) {
    process.stdout.write(`${m.name.padEnd(8)} ${Math.round(m.mainThread).toLocaleString('en').padStart(10)} instructions/request on the main thread (${(m.mainThread / b.mainThread).toFixed(2)}× bare), ${Math.round(m.allThreads).toLocaleString('en').padStart(10)} in all threads (${(m.allThreads / b.allThreads).toFixed(2)}×)\n`)
    // Ir instructions, Dr/Dw data reads/writes, I1mr/D1mr/D1mw first-level misses, ILmr/DLmr/DLmw last-level misses, Bcm/Bim mispredicted conditional/indirect branches.
    if (m.mainThreadEvents !== undefined) process.stdout.write(`${''.padEnd(9)}main thread per request: ${Object.entries(m.mainThreadEvents).map(([k, v]) => `${k} ${Math.round(v).toLocaleString('en')}`).join(', ')}\n`)
  }
  process.stdout.write(JSON.stringify(result) + '\n')
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}

/** What a callgrind dump counted (its `totals:` or `summary:` line), by event name. */
function totals (file) {
  const text = readFileSync(file, 'utf8')
  const events = /^events: (.*)$/m.exec(text)?.[1].trim().split(/\s+/) ?? ['Ir']
  const m = /^(?:totals|summary): (.*)$/m.exec(text)
  const values = m === null ? [] : m[1].trim().split(/\s+/).map(Number)
  return Object.fromEntries(events.map((e, i) => [e, values[i] ?? 0]))
}
