#!/usr/bin/env node
// Two gateways side by side, for one change at a time: the same load on both
// at the same time, both on one core (as the benchmark's side-by-side rounds),
// many short rounds, and the median ratio of requests/s and of CPU per request.
// What `npm run bench` measures once per full run, repeated until the
// machine's minute-to-minute noise averages out.
//
//   node bench/ab.mjs [--logins [--returning]] [--rounds=N] [--duration=S] [--redis] [--profile]
//                     [--a=YAML] [--b=YAML] [--a-root=DIR] [--b-root=DIR]
//
// --a / --b: extra YAML lines for each gateway (default: none, and
//   `guard: false` for --a when --logins is given: guard off vs on);
// --a-root / --b-root: another checkout's root (its dist/ is run), to compare
//   two builds (say the commit before a change) under one configuration;
// --logins: every request a login of a new user; otherwise pages of 10,000
//   signed-in users;
// --returning: with --logins, every browser brings a valid device cookie for
//   its user (a device that signed in before, not within the hour);
// --profile: then one more round under V8's sampling profiler for each (one
//   after the other), and the functions whose self time per request differs
//   most (b − a).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BENCH_SECRET, cpuSeconds, gatewayYaml, threadSeconds, inParallel, loadRunner, login, median, onPath, startNode, startRedis, stopAll } from './lib.mjs'
import { selfTimes } from './self-times.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2)
const opt = (name, fallback) => {
  const a = args.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? fallback : a.slice(name.length + 3)
}
const logins = args.includes('--logins')
// --returning (with --logins): every browser carries a valid device cookie for its user (signed in before, not this hour).
const returning = args.includes('--returning')
const rounds = Number(opt('rounds', 12))
const duration = Number(opt('duration', 3))
const extra = { a: opt('a', logins ? 'guard: false' : ''), b: opt('b', '') }
const roots = { a: resolve(opt('a-root', join(here, '..'))), b: resolve(opt('b-root', join(here, '..'))) }
const tmp = mkdtempSync(join(tmpdir(), 'sessioncap-ab-'))

try {
  const load = await startNode(join(here, 'load.mjs'), [], { core: 0 })
  const app = await startNode(join(here, 'servers/upstream.mjs'), [], { core: 0 })
  let store = 'store: { type: memory }'
  if (args.includes('--redis') && onPath('redis-server')) {
    const redis = await startRedis(join(tmp, 'redis'), 0, { persistent: false })
    store = `store: { type: redis, url: "${redis.url}", keyPrefix: "ab-WHICH:" }`
  }
  const yaml = (which) => gatewayYaml(app.url, `${store.replace('WHICH', which)}\n${extra[which]}`)
  const gw = {}
  for (const which of ['a', 'b']) {
    gw[which] = await startNode(join(roots[which], 'bench/servers/gateway.mjs'), [yaml(which)], { core: 1, env: { BENCH_PROFILE: '1' } })
  }
  let wave = 0
  const runLoad = loadRunner(load, { connections: 32 })
  const pools = {}
  if (!logins) {
    for (const which of ['a', 'b']) pools[which] = (await inParallel(10_000, 32, (i) => login(gw[which].url, `user${i}@example.com`))).filter(Boolean)
  }
  const job = (which, seconds) => logins
    ? { url: gw[which].url, duration: seconds, loginUsers: { prefix: `ab${++wave}-`, count: 1_000_000, ...(returning ? { device: { secret: BENCH_SECRET, cookie: 'sessioncap_device' } } : {}) } }
    : { url: gw[which].url, duration: seconds, path: '/', cookies: pools[which] }
  const pair = async (seconds) => {
    const c0 = { a: cpuSeconds([gw.a.pid]), b: cpuSeconds([gw.b.pid]) }
    const t0 = { a: threadSeconds(gw.a.pid), b: threadSeconds(gw.b.pid) }
    const [ra, rb] = await Promise.all([runLoad(job('a', seconds)), runLoad(job('b', seconds))])
    const c1 = { a: cpuSeconds([gw.a.pid]), b: cpuSeconds([gw.b.pid]) }
    const t1 = { a: threadSeconds(gw.a.pid), b: threadSeconds(gw.b.pid) }
    // The main thread's share and the helper threads' (V8's marking, sweeping, compiling) apart: a change that keeps more alive shows in the second.
    const per = (which, r) => ({ rps: r.rps, us: (c1[which] - c0[which]) * 1e6 / r.requests, mainUs: (t1[which].main - t0[which].main) * 1e6 / r.requests, helperUs: (t1[which].other - t0[which].other) * 1e6 / r.requests, errors: r.errors + r.timeouts, status: r.status })
    return { a: per('a', ra), b: per('b', rb) }
  }
  for (let w = 0; w < 3; w++) await pair(duration)
  const out = []
  for (let r = 0; r < rounds; r++) {
    const m = await pair(duration)
    out.push(m)
    process.stderr.write(`round ${r + 1}/${rounds}: a ${m.a.rps.toFixed(0)}/s ${m.a.us.toFixed(1)} µs (main ${m.a.mainUs.toFixed(0)}, helpers ${m.a.helperUs.toFixed(0)}) | b ${m.b.rps.toFixed(0)}/s ${m.b.us.toFixed(1)} µs (main ${m.b.mainUs.toFixed(0)}, helpers ${m.b.helperUs.toFixed(0)}) | b/a rps ${(m.b.rps / m.a.rps).toFixed(3)} cpu ${(m.b.us / m.a.us).toFixed(3)} status a ${JSON.stringify(m.a.status)} b ${JSON.stringify(m.b.status)}\n`)
  }
  const summary = {
    what: logins ? 'logins' : 'pages',
    a: { extra: extra.a, root: roots.a, rps: median(out.map((m) => m.a.rps)), cpuUs: median(out.map((m) => m.a.us)), mainUs: median(out.map((m) => m.a.mainUs)), helperUs: median(out.map((m) => m.a.helperUs)) },
    b: { extra: extra.b, root: roots.b, rps: median(out.map((m) => m.b.rps)), cpuUs: median(out.map((m) => m.b.us)), mainUs: median(out.map((m) => m.b.mainUs)), helperUs: median(out.map((m) => m.b.helperUs)) },
    rpsRatio: median(out.map((m) => m.b.rps / m.a.rps)),
    cpuRatio: median(out.map((m) => m.b.us / m.a.us))
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  if (args.includes('--profile')) {
    const ask = (proc, msg, key) => new Promise((resolve) => {
      const on = (m) => { if (m?.[key] !== undefined) { proc.child.off('message', on); resolve(m[key]) } }
      proc.child.on('message', on)
      proc.child.send(msg)
    })
    // Each alone on its core under the profiler (side by side, the profilers' own threads would share it too).
    const profiled = async (which) => {
      await ask(gw[which], { cmd: 'prof-start' }, 'profiling')
      const r = await runLoad(job(which, duration * 3))
      return [r, await ask(gw[which], { cmd: 'prof-stop' }, 'profile')]
    }
    const [ra, pa] = await profiled('a')
    const [rb, pb] = await profiled('b')
    const ta = selfTimes(pa, ra.requests)
    const tb = selfTimes(pb, rb.requests)
    for (const key of ['pkg', 'fn']) {
      const names = new Set([...ta[key].keys(), ...tb[key].keys()])
      const rows = [...names].map((k) => ({ k, a: ta[key].get(k) ?? 0, b: tb[key].get(k) ?? 0 })).sort((x, y) => Math.abs(y.b - y.a) - Math.abs(x.b - x.a))
      process.stdout.write(`\nself µs/request by ${key === 'pkg' ? 'package / file' : 'function'}:        a        b      b−a\n`)
      for (const r of rows.slice(0, key === 'pkg' ? 20 : 40)) process.stdout.write(`${r.a.toFixed(1).padStart(8)} ${r.b.toFixed(1).padStart(8)} ${(r.b - r.a).toFixed(1).padStart(8)}  ${r.k}\n`)
    }
    process.stdout.write(`\nbusy µs/request: a ${ta.busyUsPerRequest.toFixed(1)}, b ${tb.busyUsPerRequest.toFixed(1)}\n`)
  }
} finally {
  await stopAll()
  rmSync(tmp, { recursive: true, force: true })
}
