#!/usr/bin/env node
// Where sessioncap's per-request time goes, next to the bare proxy's: profiles
// each (V8's sampling profiler, started and stopped over IPC around exactly one
// load window of the benchmark's page traffic) and prints self time in µs per
// request by package / sessioncap source file and by function, with the
// difference to the bare proxy.
//   node bench/profile.mjs [seconds] [--redis] [--logins] [--save DIR]   (DIR gets the .cpuprofile files)
// --logins: every request is a login (POST /login, a new user each time) instead of a page.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gatewayYaml, inParallel, login, onPath, startNode, startRedis, stopAll } from './lib.mjs'
import { selfTimes, where } from './self-times.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const seconds = Number(args.find((a) => /^\d+$/.test(a)) ?? 8)
const withRedis = args.includes('--redis') && onPath('redis-server')
const logins = args.includes('--logins')
let wave = 0
const saveDir = args.includes('--save') ? args[args.indexOf('--save') + 1] : undefined
const tmp = mkdtempSync(join(tmpdir(), 'sessioncap-prof-'))
const env = { BENCH_PROFILE: '1' }

const ask = (proc, msg, key) => new Promise((resolve) => {
  const on = (m) => { if (m?.[key] !== undefined) { proc.child.off('message', on); resolve(m[key]) } }
  proc.child.on('message', on)
  proc.child.send(msg)
})

try {
  const load = await startNode(join(here, 'load.mjs'), [], { core: 0 })
  const app = await startNode(join(here, 'servers/upstream.mjs'), [], { core: 0 })
  const yaml = (store) => gatewayYaml(app.url, store)
  const targets = [
    { name: 'bare', proc: await startNode(join(here, 'servers/bare-proxy.mjs'), [app.url], { core: 1, env }) },
    { name: 'memory', proc: await startNode(join(here, 'servers/gateway.mjs'), [yaml('store: { type: memory }')], { core: 1, env }) }
  ]
  if (withRedis) {
    const redis = await startRedis(join(tmp, 'redis'), 0)
    targets.push({ name: 'redis', proc: await startNode(join(here, 'servers/gateway.mjs'), [yaml(`store: { type: redis, url: "${redis.url}" }`)], { core: 1, env }) })
  }
  for (const t of targets) {
    const gw = t.name === 'bare' ? targets[1].proc : t.proc
    t.pool = t.name === 'redis' || t.name === 'memory' || targets[1].pool === undefined
      ? (await inParallel(10_000, 32, (i) => login(gw.url, `user${i}@example.com`))).filter(Boolean)
      : targets[1].pool
  }
  targets[0].pool = targets[1].pool
  let id = 0
  const runLoad = (url, pool, duration) => new Promise((resolve) => {
    const me = ++id
    const on = (m) => { if (m?.id === me) { load.child.off('message', on); resolve(m.result) } }
    load.child.on('message', on)
    load.child.send(logins ? { id: me, url, connections: 32, duration, loginUsers: { prefix: `p${++wave}-`, count: 1_000_000 } } : { id: me, url, connections: 32, duration, path: '/', cookies: pool })
  })
  const reports = []
  const allocs = []
  for (const t of targets) {
    await runLoad(t.proc.url, t.pool, 2)
    await ask(t.proc, { cmd: 'prof-start' }, 'profiling')
    const r = await runLoad(t.proc.url, t.pool, seconds)
    const profile = await ask(t.proc, { cmd: 'prof-stop' }, 'profile')
    if (saveDir !== undefined) { mkdirSync(saveDir, { recursive: true }); writeFileSync(join(saveDir, `${t.name}.cpuprofile`), JSON.stringify(profile)) }
    reports.push({ name: t.name, requests: r.requests, rps: r.rps, ...selfTimes(profile, r.requests) })
    process.stderr.write(`${t.name}: ${Math.round(r.rps)} requests/s under the profiler\n`)
    // Then what it allocates per request (sampled), over a second window.
    await ask(t.proc, { cmd: 'alloc-start' }, 'profiling')
    const ra = await runLoad(t.proc.url, t.pool, Math.min(seconds, 4))
    const heap = await ask(t.proc, { cmd: 'alloc-stop' }, 'profile')
    allocs.push({ name: t.name, ...allocations(heap, ra.requests) })
  }
  print(reports)
  printAllocs(allocs)
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}

function print (reports) {
  const base = reports[0]
  const line = (k, vals) => `${vals.map((v) => (v === undefined ? '–' : v.toFixed(1)).padStart(8)).join('')}  ${k}`
  for (const key of ['pkg', 'fn']) {
    const names = new Set(reports.flatMap((r) => [...r[key].keys()]))
    const rows = [...names].map((k) => ({ k, vals: reports.map((r) => r[key].get(k) ?? 0) }))
    const last = reports.length - 1
    rows.sort((a, b) => (b.vals[1] - b.vals[0]) - (a.vals[1] - a.vals[0]))
    process.stdout.write(`\nself µs/request by ${key === 'pkg' ? 'package / source file' : 'function'}: ${reports.map((r) => r.name.padStart(8)).join('')}  (sorted by memory − bare)\n`)
    for (const r of rows.slice(0, key === 'pkg' ? 30 : 45)) process.stdout.write(line(r.k, r.vals) + '\n')
    void last
  }
  process.stdout.write(`\nCPU busy (sampled, not idle) µs/request: ${reports.map((r) => `${r.name} ${r.busyUsPerRequest.toFixed(1)}`).join(', ')}; requests/s under the profiler: ${reports.map((r) => `${r.name} ${Math.round(r.rps)}`).join(', ')}\n`)
  void base
}

/** Bytes allocated per request (sampled), by function and by package. */
function allocations (profile, requests) {
  const fn = new Map()
  const pkg = new Map()
  let total = 0
  const walk = (node) => {
    const size = node.selfSize ?? 0
    if (size > 0) {
      const cf = node.callFrame
      const w = where(cf)
      const name = `${cf.functionName || '(anonymous)'} ${w}${cf.url.includes('/dist/') || cf.url.includes('node_modules') ? `:${cf.lineNumber + 1}` : ''}`
      fn.set(name, (fn.get(name) ?? 0) + size / requests)
      pkg.set(w, (pkg.get(w) ?? 0) + size / requests)
      total += size / requests
    }
    for (const c of node.children ?? []) walk(c)
  }
  walk(profile.head)
  return { fn, pkg, total }
}

function printAllocs (allocs) {
  for (const key of ['pkg', 'fn']) {
    const names = new Set(allocs.flatMap((r) => [...r[key].keys()]))
    const rows = [...names].map((k) => ({ k, vals: allocs.map((r) => r[key].get(k) ?? 0) }))
    rows.sort((a, b) => (b.vals[1] - b.vals[0]) - (a.vals[1] - a.vals[0]))
    process.stdout.write(`\nbytes allocated per request by ${key === 'pkg' ? 'package / source file' : 'function'}: ${allocs.map((r) => r.name.padStart(8)).join('')}  (sorted by memory − bare)\n`)
    for (const r of rows.slice(0, 30)) process.stdout.write(`${r.vals.map((v) => v.toFixed(0).padStart(8)).join('')}  ${r.k}\n`)
  }
  process.stdout.write(`\nbytes allocated per request in all: ${allocs.map((r) => `${r.name} ${Math.round(r.total)}`).join(', ')}\n`)
}
