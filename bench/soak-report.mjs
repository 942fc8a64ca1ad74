// The soak's verdict, chart and section of docs/benchmarks.md (bench/soak.mjs
// writes them; bench/report.mjs keeps the section when it rewrites the page).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const BEGIN = '<!-- soak: written by npm run soak -->'
/** The gateway's bounded caches that grow with logins, in entries (redis-store.ts LOCAL_ENTRIES, memory-store.ts ENDED_DETAILS). */
const CACHE_ENTRIES = 100_000
const END = '<!-- /soak -->'
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Least-squares slope of y over t (per second). */
function slope (points) {
  const n = points.length
  if (n < 2) return 0
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  let num = 0
  let den = 0
  for (const p of points) { num += (p.t - mt) * (p.y - my); den += (p.t - mt) ** 2 }
  return den === 0 ? 0 : num / den
}

/**
 * Flat: once the ended window is full (maxAge after the start, plus a minute
 * for the buckets to turn over) and the gateway's bounded caches are, each
 * measure's trend over ten minutes stays
 * within its noise: heap within max(5 MiB, 10%), RSS within max(20 MiB, 15%),
 * Redis within max(2 MiB, 10%) of its mean.
 */
export function soakVerdict (samples, maxAgeSeconds, cacheEntries = CACHE_ENTRIES) {
  // Also once the gateway's own bounded caches are full: every login adds an
  // entry to each (the Redis store's local caches, the memory store's details
  // of ended sessions: 100,000 entries each), plus a minute.
  const filled = samples.find((s) => s.logins >= cacheEntries)
  const from = Math.max(maxAgeSeconds + 60, filled === undefined ? Infinity : filled.t + 60)
  const steady = samples.filter((s) => s.t >= from)
  if (steady.length < 3) return { flat: false, summary: 'too short a run: fewer than 3 samples after the ended window filled' }
  const measures = [['heapMiB', 5, 0.10], ['rssMiB', 20, 0.15], ['redisMiB', 2, 0.10]]
  const out = { flat: true, from: steady[0].t, to: steady[steady.length - 1].t, measures: {} }
  const parts = []
  for (const [key, abs, rel] of measures) {
    const pts = steady.filter((s) => typeof s[key] === 'number').map((s) => ({ t: s.t, y: s[key] }))
    if (pts.length < 3) continue
    const mean = pts.reduce((a, p) => a + p.y, 0) / pts.length
    const per10min = slope(pts) * 600
    const allowed = Math.max(abs, rel * mean)
    const flat = per10min <= allowed
    out.measures[key] = { mean, min: Math.min(...pts.map((p) => p.y)), max: Math.max(...pts.map((p) => p.y)), trendPer10MinMiB: per10min, allowedMiB: allowed, flat }
    if (!flat) out.flat = false
    parts.push(`${key.replace('MiB', '')} ${mean.toFixed(1)} MiB (${Math.min(...pts.map((p) => p.y)).toFixed(1)}–${Math.max(...pts.map((p) => p.y)).toFixed(1)}), trend ${per10min >= 0 ? '+' : ''}${per10min.toFixed(1)} MiB per 10 min`)
  }
  out.summary = `from ${out.from} s to ${out.to} s: ${parts.join('; ')}`
  return out
}

/** Heap and RSS (and Redis used_memory) over time, one panel per store. */
export function soakChart (results) {
  const runs = Object.values(results.runs)
  const width = 760
  const panelH = 220
  const left = 60
  const right = 150
  const height = 56 + runs.length * (panelH + 48)
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="22" font-size="14" font-weight="600" fill="#111">${esc(`Soak: gateway memory under login churn (${results.accounts} accounts, limit 1, maxAge ${results.maxAge})`)}</text>`]
  const series = [['rssMiB', 'RSS', '#2563eb'], ['heapMiB', 'heap (after GC)', '#16a34a'], ['redisMiB', 'Redis used_memory', '#dc2626']]
  runs.forEach((run, i) => {
    const top = 56 + i * (panelH + 48)
    const s = run.samples
    const tMax = Math.max(...s.map((x) => x.t), 1)
    const yMax = Math.max(...s.flatMap((x) => series.map(([k]) => x[k] ?? 0)), 1) * 1.1
    const X = (t) => left + (t / tMax) * (width - left - right)
    const Y = (y) => top + panelH - (y / yMax) * panelH
    parts.push(`<text x="${left}" y="${top - 6}" font-weight="600" fill="#111">${esc(`${run.kind} store: ${run.verdict.flat ? 'flat' : 'not flat'}`)}</text>`)
    parts.push(`<line x1="${left}" y1="${top + panelH}" x2="${width - right}" y2="${top + panelH}" stroke="#999"/>`)
    for (let k = 0; k <= 4; k++) {
      const y = (yMax / 4) * k
      parts.push(`<line x1="${left}" y1="${Y(y).toFixed(1)}" x2="${width - right}" y2="${Y(y).toFixed(1)}" stroke="#eee"/><text x="${left - 6}" y="${(Y(y) + 4).toFixed(1)}" text-anchor="end" fill="#555">${y.toFixed(0)} MiB</text>`)
    }
    for (let t = 0; t <= tMax; t += 60) parts.push(`<text x="${X(t).toFixed(1)}" y="${top + panelH + 14}" text-anchor="middle" fill="#555">${t / 60}m</text>`)
    series.forEach(([key, label, colour], j) => {
      const pts = s.filter((x) => typeof x[key] === 'number')
      if (pts.length === 0) return
      parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${pts.map((x) => `${X(x.t).toFixed(1)},${Y(x[key]).toFixed(1)}`).join(' ')}"/>`)
      parts.push(`<text x="${width - right + 8}" y="${top + 16 + j * 16}" fill="${colour}">${esc(label)}</text>`)
    })
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}

/** The section of docs/benchmarks.md, between its markers. */
export function soakSection (results, resultsFile) {
  const rows = ['| store | logins/s | pages/s | logins in all | steady from | heap after it | RSS after it | Redis used_memory after it | verdict |', '|---|---:|---:|---:|---:|---:|---:|---:|---|']
  for (const r of Object.values(results.runs)) {
    const m = r.verdict.measures ?? {}
    const range = (x) => x === undefined ? '–' : `${x.min.toFixed(1)}–${x.max.toFixed(1)} MiB (trend ${x.trendPer10MinMiB >= 0 ? '+' : ''}${x.trendPer10MinMiB.toFixed(1)}/10 min)`
    rows.push(`| ${r.kind} | ${Math.round(r.rates.loginsPerSecond).toLocaleString('en')} | ${Math.round(r.rates.pagesPerSecond).toLocaleString('en')} | ${r.counts.logins.toLocaleString('en')} | ${r.verdict.from ?? '–'} s | ${range(m.heapMiB)} | ${range(m.rssMiB)} | ${range(m.redisMiB)} | ${r.verdict.flat ? '**flat**' : '**NOT FLAT**'} |`)
  }
  return `${BEGIN}
## Soak: memory under login churn

\`npm run soak\` (${results.date.slice(0, 10)}; raw samples in [\`${resultsFile}\`](../${resultsFile})): ${results.minutes} minutes per store at full speed, ${results.workers} clients looping over ${results.accounts} accounts under limit 1 — each login ends the account's previous session —, four page requests with each new session, one login in five signing out, and a request with an older, ended cookie (refused) after each; \`sessions.maxAge\` scaled down to ${results.maxAge} so the ended window fills within the run. The gateway's RSS and heap (after a full collection) and redis-server's \`used_memory\` are sampled every 10 s. **Flat** means that once the ended window is full (maxAge plus a minute) and the gateway's bounded caches too (100,000 entries each, one per login, plus a minute: the *steady from* column), each measure's trend over ten minutes stays within max(5 MiB, 10%) for the heap, max(20 MiB, 15%) for RSS, max(2 MiB, 10%) for Redis.

![Soak: memory over time](soak-memory.svg)

${rows.join('\n')}

Before the bounds of issue #12, the same churn grew the memory store's gateway linearly (125 MB to 510 MB in 3 minutes, ~400 B per ended session kept for 14 days).
${END}`
}

/** Replaces the soak section of the page (or appends it). */
export function writeSoakSection (file, section) {
  const page = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n'
  const a = page.indexOf(BEGIN)
  const b = page.indexOf(END)
  const next = a >= 0 && b > a ? page.slice(0, a) + section + page.slice(b + END.length) : `${page.trimEnd()}\n\n${section}\n`
  writeFileSync(file, next)
}

/** The section as the page has it now (bench/report.mjs keeps it when it rewrites the page). */
export function currentSoakSection (file) {
  if (!existsSync(file)) return ''
  const page = readFileSync(file, 'utf8')
  const a = page.indexOf(BEGIN)
  const b = page.indexOf(END)
  return a >= 0 && b > a ? page.slice(a, b + END.length) : ''
}

/** The latest soak results file, if any. */
export function latestSoak (dir) {
  if (!existsSync(dir)) return undefined
  const files = readdirSync(dir).filter((f) => /^soak-.*\.json$/.test(f)).sort()
  return files.length === 0 ? undefined : join(dir, files[files.length - 1])
}
