// Turns a results file into the table printed at the end of a run, and (full
// runs) docs/benchmarks.md and docs/benchmarks-rps.svg.
// Also usable alone: node bench/report.mjs bench/results/<date>.json
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { currentSoakSection } from './soak-report.mjs'

const n0 = (x) => x === null || x === undefined ? '–' : Math.round(x).toLocaleString('en')
const f = (x, d = 2) => x === null || x === undefined ? '–' : x.toFixed(d)
const ratio = (x) => x === null || x === undefined ? '–' : `${x.toFixed(2)}×`
const pct = (x) => x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** The lowest and highest Redis round trips per request over a variant's rounds, as text. */
function roundTripRange (rounds = []) {
  const v = rounds.map((r) => r.storeCommandsPerRequest).filter((x) => typeof x === 'number')
  return v.length === 0 ? 'none counted' : `${Math.min(...v).toFixed(2)}–${Math.max(...v).toFixed(2)}`
}

function requestsTable (V) {
  const rows = ['| variant | requests/s | p50 | p99 | CPU µs/request (proxy) | requests/s vs bare | CPU/request vs bare | p99 vs bare | proxy core busy | generator core busy | other processes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
  for (const v of Object.values(V)) {
    rows.push(`| ${v.label} | ${n0(v.rps)} | ${f(v.p50)} ms | ${f(v.p99)} ms | ${f(v.cpuUsPerRequest, 1)} | ${ratio(v.rpsRatio)} | ${ratio(v.cpuRatio)} | ${v.p99Delta === null ? '–' : `${v.p99Delta >= 0 ? '+' : ''}${f(v.p99Delta)} ms`} | ${pct(v.proxyCpuShare)} | ${pct(v.generatorCpuShare)} | ${pct(v.foreignCores)} |`)
  }
  return rows.join('\n')
}

function loginTable (A) {
  const rows = ['| variant | logins/s | p50 | p99 | CPU µs/login (proxy) | logins/s vs bare | CPU/login vs bare |', '|---|---:|---:|---:|---:|---:|---:|']
  for (const v of Object.values(A)) rows.push(`| ${v.label} | ${n0(v.rps)} | ${f(v.p50)} ms | ${f(v.p99)} ms | ${f(v.cpuUsPerRequest, 1)} | ${ratio(v.rpsRatio)} | ${ratio(v.cpuRatio)} |`)
  return rows.join('\n')
}

function refusalTable (R) {
  const rows = ['| variant | refusals/s | p50 | p99 | CPU µs/refusal (gateway) | answers |', '|---|---:|---:|---:|---:|---|']
  for (const v of Object.values(R)) rows.push(`| ${v.label} | ${n0(v.rps)} | ${f(v.p50)} ms | ${f(v.p99)} ms | ${f(v.cpuUsPerRequest, 1)} | ${Object.entries(v.statuses).map(([k, c]) => `${k}: ${c.toLocaleString('en')}`).join(', ')} |`)
  return rows.join('\n')
}

function sideBySideTable (S, unit) {
  const list = Object.values(S ?? {})
  if (list.length === 0) return ''
  const rows = [`| variant | its ${unit}s/s | bare proxy's ${unit}s/s | ratio | its CPU µs/${unit} | bare proxy's | ratio |`, '|---|---:|---:|---:|---:|---:|---:|']
  for (const v of list) rows.push(`| ${v.label} | ${n0(v.rps)} | ${n0(v.bareRps)} | ${ratio(v.rpsRatio)} | ${f(v.cpuUsPerRequest, 1)} | ${f(v.bareCpuUsPerRequest, 1)} | ${ratio(v.cpuRatio)} |`)
  return rows.join('\n')
}

function instructionsSection (I) {
  if (I === undefined) return ''
  const b = I.variants.bare
  const rows = ['| variant | instructions/request, main thread | vs bare | instructions/request, all threads | vs bare |', '|---|---:|---:|---:|---:|']
  const label = { bare: 'bare @fastify/http-proxy', memory: 'sessioncap, memory store' }
  for (const v of Object.values(I.variants)) rows.push(`| ${label[v.name] ?? v.name} | ${n0(v.mainThread)} | ${ratio(v.mainThread / b.mainThread)} | ${n0(v.allThreads)} | ${ratio(v.allThreads / b.allThreads)} |`)
  return `### Instructions per request (callgrind)

A measure of CPU cost that does not follow the machine's speed: each proxy runs under valgrind's callgrind (\`bench/instructions.mjs\`) with the same page traffic (${I.pool.toLocaleString('en')} live sessions in turn), ${I.warmup.toLocaleString('en')} requests of warm-up, then the instructions of ${I.requests.toLocaleString('en')} requests are counted. The main thread is where the JavaScript and the HTTP parsing run; the other threads are V8's garbage collector and compiler helpers. Counts vary between runs of the same build (V8 compiles and collects on its own schedule): over this work's runs on this machine sessioncap's main thread counted 345,000–472,000 instructions per request and the bare proxy's 384,000–573,000; read one run's figures as one sample of that range, not as an exact ratio. It does not see time that is not instructions (cache misses, mispredicted branches) nor time-driven work (timers), which under callgrind's ~50× slowdown is spread over 50× fewer requests. ${I.valgrind}.

${rows.join('\n')}
`
}

function guardSection (results) {
  const GL = results.guardLogins ?? {}
  const G = results.guardAdmit ?? {}
  if (Object.keys(GL).length === 0 && G.memory === undefined) return ''
  const rows = ['| store | logins/s, guard on | guard off | ratio | CPU µs/login, guard on | guard off | ratio |', '|---|---:|---:|---:|---:|---:|---:|']
  for (const [kind, v] of Object.entries(GL)) rows.push(`| ${kind} | ${n0(v.rps)} | ${n0(v.bareRps)} | ${ratio(v.rpsRatio)} | ${f(v.cpuUsPerRequest, 1)} | ${f(v.bareCpuUsPerRequest, 1)} | ${ratio(v.cpuRatio)} |`)
  const steps = []
  if (G.memory !== undefined) steps.push(`- memory: **${n0(G.memory.guard.perCpuSecond)} attempt+settle pairs per CPU second** through the guard (hashing the user and the address included; ${n0(G.memory.guard.perSecond)}/s of wall time), ${n0(G.memory.storeOnly.perCpuSecond)} through the store alone (keys hashed beforehand); ${f(G.memory.heap.bytesPerKeyAtFullOccupancy, 0)} B per counter key (heap and ArrayBuffers) with the table three-quarters full; device tokens: ${n0(G.memory.deviceTokens.signPerCpuSecond)} signed and ${n0(G.memory.deviceTokens.verifyPerCpuSecond)} verified per CPU second`)
  if (G.redis !== undefined) steps.push(`- Redis: **${n0(G.redis.guard.pairsPerRedisCpuSecond)} pairs per second of redis-server's CPU** (${f(G.redis.guard.redisCpuUsPerPair, 0)} µs each; 256 in flight from one process, pipelined), ${n0(G.redis.guard.perSecond)}/s of wall time with Node and Redis sharing the machine; one at a time ${n0(G.redis.guardOneAtATime.perSecond)}/s; ${f(G.redis.memory.bytesPerCounterKey, 0)} B of \`used_memory\` per counter key, ${f(G.redis.memory.bytesPerBlockedKey, 0)} B per blocked key`)
  return `## The login guard

Logins through the same gateway with the login guard on (the default) and off (\`guard: false\`), both loaded at the same time and sharing one core, as the side-by-side rounds above: every login a new user from 127.0.0.1, each charged before it is forwarded and settled as a success when the answer comes.

${rows.join('\n')}

The guard's two steps alone, in process (\`bench/guard-admit.mjs\`; 50,000 users in turn from 20,000 networks, 90% successes):

${steps.join('\n')}

`
}

function endedSection (results) {
  const EM = results.endedMemory ?? {}
  if (EM.memory === undefined) return ''
  const lines = [`- memory store: **${f(EM.memory.bytesPerEnded, 1)} B per ended session** at ${EM.memory.sessions.toLocaleString('en')} (fingerprints in time buckets, \`src/store/ended-set.ts\`; heap and RSS after full collections)`]
  if (EM.redis !== undefined) lines.push(`- Redis: **${f(EM.redis.bytesPerEnded, 1)} B of \`used_memory\` per ended session** at ${EM.redis.sessions.toLocaleString('en')} (the compact ended index, \`src/store/redis/ended-index.ts\`)`)
  return `## Ended sessions

What an ended session costs to remember (\`bench/ended-memory.mjs\`, a fresh process each): sessions ended by the limit, then kept for \`sessions.maxAge\` so that their cookie is refused.

${lines.join('\n')}

`
}

function targetsTable (T) {
  const rows = ['| target | wanted | measured | result |', '|---|---|---:|---|']
  for (const t of T) rows.push(`| ${t.name} | ${t.wanted} | ${t.value === null || t.value === undefined ? '–' : `${typeof t.value === 'number' ? t.value.toLocaleString('en') : t.value}${t.unit === '' && /×/.test(t.wanted) ? '×' : t.unit}`} | ${t.pass === null ? 'not measured' : t.pass ? '**pass**' : '**FAIL**'} |`)
  return rows.join('\n')
}

/** A hand-written horizontal bar chart of the median requests/s, with each variant's round range. */
export function chartSvg (V, title) {
  const list = Object.values(V)
  const width = 760
  const left = 220
  const right = 90
  const barH = 26
  const gap = 14
  const top = 46
  const height = top + list.length * (barH + gap) + 40
  const max = Math.max(...list.flatMap((v) => v.rounds.map((r) => r.rps)), 1)
  const step = max > 20_000 ? 5_000 : max > 8_000 ? 2_000 : 1_000
  const axisMax = Math.ceil(max / step) * step
  const x = (val) => left + (val / axisMax) * (width - left - right)
  const colour = (v) => v.label.startsWith('sessioncap') ? '#2563eb' : v.label.startsWith('bare') ? '#64748b' : v.label.startsWith('nginx') ? '#16a34a' : '#a3a3a3'
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="13">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="24" font-size="14" font-weight="600" fill="#111">${esc(title)}</text>`
  ]
  for (let t = 0; t <= axisMax; t += step) {
    parts.push(`<line x1="${x(t).toFixed(1)}" y1="${top - 6}" x2="${x(t).toFixed(1)}" y2="${height - 32}" stroke="#e5e7eb"/>`)
    parts.push(`<text x="${x(t).toFixed(1)}" y="${height - 14}" text-anchor="middle" fill="#555">${(t / 1000).toLocaleString('en')}k</text>`)
  }
  list.forEach((v, i) => {
    const y = top + i * (barH + gap)
    const lo = Math.min(...v.rounds.map((r) => r.rps))
    const hi = Math.max(...v.rounds.map((r) => r.rps))
    parts.push(`<text x="${left - 10}" y="${y + barH / 2 + 4}" text-anchor="end" fill="#111">${esc(v.label)}</text>`)
    parts.push(`<rect x="${left}" y="${y}" width="${(x(v.rps) - left).toFixed(1)}" height="${barH}" fill="${colour(v)}" rx="2"><title>${esc(v.label)}: median ${Math.round(v.rps)} requests/s (rounds ${Math.round(lo)}–${Math.round(hi)})</title></rect>`)
    // The spread of the rounds: a thin line from the slowest to the fastest.
    parts.push(`<line x1="${x(lo).toFixed(1)}" y1="${y + barH / 2}" x2="${x(hi).toFixed(1)}" y2="${y + barH / 2}" stroke="#111" stroke-width="1.5"/>`)
    parts.push(`<line x1="${x(lo).toFixed(1)}" y1="${y + 7}" x2="${x(lo).toFixed(1)}" y2="${y + barH - 7}" stroke="#111" stroke-width="1.5"/>`)
    parts.push(`<line x1="${x(hi).toFixed(1)}" y1="${y + 7}" x2="${x(hi).toFixed(1)}" y2="${y + barH - 7}" stroke="#111" stroke-width="1.5"/>`)
    const label = `${Math.round(v.rps).toLocaleString('en')}/s${v.rpsRatio === null || v.rpsRatio === undefined ? '' : ` (${v.rpsRatio.toFixed(2)}×)`}`
    parts.push(`<text x="${(Math.max(x(v.rps), x(hi)) + 6).toFixed(1)}" y="${y + barH / 2 + 4}" fill="#111">${esc(label)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

export function writeReport (results, { root, resultsFile, docs }) {
  const V = results.variants
  const table = requestsTable(V)
  if (!docs) return { table: `${table}\n\n${targetsTable(results.targets)}` }
  const m = results.machine
  const P = results.parameters
  const analysisFile = join(root, 'bench/analysis.md')
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8').trim() : ''
  const SA = results.storeAdmit
  const memRows = Object.values(results.memory).map((r) => `| ${r.sessions.toLocaleString('en')} | ${f(r.heapBytesPerSession, 0)} B | ${f(r.rssBytesPerSession, 0)} B | ${f(r.heapUsedMiB, 0)} MiB | ${f(r.rssMiB, 0)} MiB |`).join('\n')
  const admitRows = Object.values(SA).map((r) => `| ${r.kind} | ${n0(r.many.perSecond)}/s (${r.many.logins.toLocaleString('en')} users) | ${n0(r.storm.perSecond)}/s | ${r.storm.sessionsLeft} of ${r.storm.logins.toLocaleString('en')} (limit ${P.limit}) |`).join('\n')
  const gwStorm = Object.entries(results.gatewayStorm).map(([k, r]) => `${k} store: ${r.logins} concurrent logins of one user, ${r.passing} sessions still pass, ${r.refused} refused`).join('; ')
  // A variant that did not fill its own core was held back by the other one (load generator + upstream).
  const paced = Object.values(V).filter((v) => v.proxyCpuShare < 0.8 && (v.generatorCpuShare ?? 0) + (v.upstreamCpuShare ?? 0) >= 0.9 && v.generatorCpuShare <= 0.9)
    .map((v) => `requests, ${v.label}: it used ${Math.round(v.proxyCpuShare * 100)}% of its core while the load generator and the upstream together used ${Math.round((v.generatorCpuShare + (v.upstreamCpuShare ?? 0)) * 100)}% of theirs: its requests/s is a lower bound, set by the other core`)
  results = { ...results, notes: [...results.notes, ...paced] }
  const chartTitle = `Requests/s per variant (median of ${P.rounds} rounds of ${P.duration} s; whiskers: slowest–fastest round)`
  const md = `# Benchmarks

What sessioncap costs on every request, side by side with what one would otherwise run (issue #7). The scripts are in \`bench/\`.
Generated by \`npm run bench\` on ${results.date.slice(0, 10)} (${results.mode} run); the raw numbers are in [\`${resultsFile}\`](../${resultsFile}).

![${esc(chartTitle)}](benchmarks-rps.svg)

## Requests with a live session

Every request is a \`GET /\` carrying a live session cookie, taken in turn from a pool of ${P.pool.toLocaleString('en')} users signed in through the gateway beforehand (the other variants get the same cookies and headers). The upstream answers a ${'~1 KiB'} HTML page.

${table}
${V.redis?.storeCommandsPerRequest == null ? '' : `\nThe Redis store made **${f(V.redis.storeCommandsPerRequest, 2)} round trips to Redis per request** (script calls, median of the rounds; ${roundTripRange(V.redis.rounds)} across rounds): while its heartbeats come back, a gateway asks Redis about a live session's cookie when its cached answer is older than \`store.cacheMaxTtl\` (30 s), and writes the uses of all sessions in one call every half second; with ${P.pool.toLocaleString('en')} users in turn each cookie comes back every ${V.redis.rps > 0 ? f(P.pool / V.redis.rps, 1) : '?'} s. The rounds of one variant are some 20–30 s apart here, so a round that starts after its cookies' answers have aged past 30 s asks again for most of them, and the next one asks for none. redis-server used ${f(V.redis.sideCpuUsPerRequest, 1)} µs of CPU per request on the other core.\n`}
${Object.keys(results.sideBySide ?? {}).length === 0 ? '' : `**Side by side.** The same traffic, but the bare proxy and one other variant loaded at the same time, both on the proxies' core, which the kernel shares out between them (so each serves about half its rate above): whatever the machine's speed that minute, both get the same. The ratios are taken within each round, then the median of ${P.rounds} rounds; the targets use these.

${sideBySideTable(results.sideBySide, 'request')}
`}
- **CPU µs/request** is the proxy process's own CPU time (user + system, from \`/proc/<pid>/stat\`) over the requests it served: steadier than requests/s on a machine whose speed drifts. For nginx it is the master and its worker.
- The ratios are taken **round by round** against the bare proxy's round next to it, then the median (the same minute's conditions); the other columns are medians of the rounds.
- *proxy core busy*: how much of its core the process under test used (100% = it was the bottleneck); *generator core busy*: autocannon's share of its core (near 100% would mean the load generator, not the proxy, set the pace); *other processes*: CPU the rest of the machine used meanwhile (from \`/proc/stat\`, in % of one core), which competes with the round.

## Targets (issue #7)

${targetsTable(results.targets)}

${analysis === '' ? '' : `## Where the time goes\n\n${analysis}\n`}
${instructionsSection(results.instructions)}
## Logins (admission)

Every request is a login (\`POST /login\`, a form with a new user name each time, out of a million) that the upstream answers with \`302\` and a new session cookie; the gateway reads the user from the form and admits the session under the limit (${P.limit}) before the answer leaves. The bare proxy forwards the same traffic.

${loginTable(results.admission)}
${Object.keys(results.sideBySideLogins ?? {}).length === 0 ? '' : `\nSide by side with the bare proxy (both loaded with logins at the same time, sharing one core; the targets use these):\n\n${sideBySideTable(results.sideBySideLogins, 'login')}\n`}
The admit step alone, in process (no HTTP; ids made beforehand): many users (memory store: one admission after another; Redis: 256 in flight from one process, pipelined on one connection), then one user hammered by concurrent logins under limit ${P.limit}:

| store | many users | one-user storm | sessions left after the storm |
|---|---:|---:|---|
${admitRows}

Through the gateway: ${gwStorm || '–'}.

## Refusals

Every request carries the cookie of a session ended by the limit (out of ${P.ended.toLocaleString('en')}): the gateway answers \`401\` itself (an API client; a browser would get \`303\`) and logs one line; the upstream never sees it.

${refusalTable(results.refusal)}

${guardSection(results)}${endedSection(results)}## Memory

The memory store, in a fresh \`node --expose-gc\` process: N sessions admitted (one user each, with the device and address the gateway keeps for its pages), then each used once a minute later (as a session in use is: its last use then differs from its login time), heap and RSS measured after full collections, before and after. The store is made with \`maxSessions\` 1,000,000 (the default), whose LRU slots are allocated up front: at 100,000 sessions they weigh on each one.

| tracked sessions | heap per session | RSS per session | heap used | RSS |
|---:|---:|---:|---:|---:|
${memRows}
${SA.redis?.redisBytesPerSession === undefined ? '' : `\nRedis (${m.redis ?? '?'}): **${f(SA.redis.redisBytesPerSession, 0)} bytes per session** (\`used_memory\` from \`INFO memory\` before and after ${SA.redis.many.logins.toLocaleString('en')} users signed in once each).\n`}
## The machine

- CPU: ${m.cpu}${m.mhz === null ? '' : ` (${Math.round(m.mhz)} MHz)`}, ${m.cores} cores, ${m.memoryGiB ?? '?'} GiB; Linux ${m.kernel}
- Measured: ${results.source === undefined ? 'dist/' : `dist/ built from ${results.source.commit}${results.source.dirtySrc ? ' plus uncommitted changes under src/' : ''}`}
- Node ${m.node}, autocannon ${m.autocannon}, redis-server ${m.redis ?? 'not installed'}, nginx ${m.nginx ?? 'not installed'}
${results.skipped.length === 0 ? '' : `- Skipped: ${results.skipped.join('; ')}\n`}${results.notes.length === 0 ? '' : results.notes.map((n) => `- Note: ${n}\n`).join('')}
## Method

- One command, \`npm run bench\` (\`-- --quick\` for a short run while developing; it writes \`bench/results/<date>-quick.json\` and leaves these docs alone). Every server is started by the bench on a free loopback port and stopped at the end; it starts its **own** \`redis-server\` (never the machine's), and nginx in the foreground with its own configuration, pid and logs in a temporary folder.
- The upstream is a minimal \`node:http\` server (\`bench/servers/upstream.mjs\`): a ${'~1 KiB'} page for any GET, and \`POST /login\` answering \`302\` with \`Set-Cookie: sessionid=<random>\`.
- Variants: (1) the upstream directly (a second copy of it, on the proxies' core); (2) a bare \`@fastify/http-proxy\` (\`bench/servers/bare-proxy.mjs\`) with sessioncap's connection settings (undici, ${'128'} connections, no pipelining, 60 s keep-alive and timeouts, no retries), setting \`X-Forwarded-For/-Proto/-Host\` and the Host header by writing into the header object it is handed; (3) sessioncap with the memory store and (4) with the Redis store (\`bench/servers/gateway.mjs\`: \`createGateway\` from \`dist/\`, limit ${P.limit}, default settings otherwise: log level info, \`cacheTtl\` 2 s, \`cacheMaxTtl\` 30 s, \`touchInterval\` 5 s; Redis with \`appendonly yes\`, \`appendfsync everysec\`, \`noeviction\`); (5) nginx (1 worker, upstream keep-alive 128, the same forwarded headers, no access log).
- Each variant is its own process, pinned with \`taskset\` to core ${P.serverCore}; the load generator (autocannon in its own process, \`bench/load.mjs\`), the upstream behind the proxies and \`redis-server\` are pinned to core ${P.loadCore}. ${P.pinned ? '' : '(Pinning was not possible on this run.)'}
- Load: ${P.connections} connections, no pipelining (so every variant runs saturated: its p50/p99 include queueing behind the busy core and its GC pauses, not only its own service time), a warm-up of ${P.warmup} s per variant, then ${P.rounds} rounds of ${P.duration} s; each round runs every variant once, in an order rotated every round, so slow and fast minutes are shared out. Logins: ${P.loginRounds} rounds of ${P.loginDuration} s; refusals: ${P.refuseRounds} rounds of ${P.refuseDuration} s. Latency percentiles come from each response's own time at 10 µs resolution (autocannon's histogram keeps whole milliseconds).
- This machine's speed drifts by up to ±40% within a minute, and other work may run on it: read requests/s as ±10–20%, and the CPU per request (and the paired ratios) as the steadier figures.
`
  // The soak's section (npm run soak) is kept as it was.
  const soak = currentSoakSection(join(root, 'docs/benchmarks.md'))
  writeFileSync(join(root, 'docs/benchmarks.md'), soak === '' ? md : `${md.trimEnd()}\n\n${soak}\n`)
  writeFileSync(join(root, 'docs/benchmarks-rps.svg'), chartSvg(V, chartTitle))
  return { table: `${table}\n\n${targetsTable(results.targets)}` }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  if (file === undefined) { process.stderr.write('usage: node bench/report.mjs bench/results/<date>.json\n'); process.exit(2) }
  const root = join(dirname(fileURLToPath(import.meta.url)), '..')
  const results = JSON.parse(readFileSync(file, 'utf8'))
  const { table } = writeReport(results, { root, resultsFile: relative(root, join(process.cwd(), file)), docs: true })
  process.stdout.write(`${table}\n`)
}
