#!/usr/bin/env node
// Fails `npm test` when coverage of src/ drops below the chosen thresholds.
import { existsSync, readFileSync } from 'node:fs'

const THRESHOLDS = { lines: 95, statements: 95, functions: 90, branches: 88 }

let summary
try {
  summary = JSON.parse(readFileSync(new URL('../.tap/report/coverage-summary.json', import.meta.url), 'utf8'))
} catch (err) {
  console.error(`check-coverage: no coverage summary (${err.code ?? err.message}); did tap run?`)
  process.exit(1)
}
// Functions, each counted once. The tests run the TypeScript sources on
// Node's type stripping, while the CLI processes they start run the compiled
// dist/ (the bin as users run it), whose coverage comes back through its
// source maps one column off: the same function twice, once never called.
// Grouped by file, name and line, a function is covered if any copy is.
const final = new URL('../.tap/report/coverage-final.json', import.meta.url)
if (existsSync(final)) {
  let total = 0
  let covered = 0
  for (const file of Object.values(JSON.parse(readFileSync(final, 'utf8')))) {
    const calls = new Map()
    for (const [k, fn] of Object.entries(file.fnMap)) {
      const key = `${fn.name}:${fn.loc.start.line}`
      calls.set(key, Math.max(calls.get(key) ?? 0, file.f[k]))
    }
    total += calls.size
    for (const c of calls.values()) if (c > 0) covered++
  }
  summary.total.functions = { total, covered, pct: total === 0 ? 100 : Math.round(10_000 * covered / total) / 100 }
}

const failures = Object.entries(THRESHOLDS)
  .filter(([kind, min]) => summary.total[kind].pct < min)
  .map(([kind, min]) => `${kind} ${summary.total[kind].pct}% < ${min}%`)
if (failures.length > 0) {
  console.error(`check-coverage: coverage below the thresholds: ${failures.join(', ')}`)
  process.exit(1)
}
console.log(`check-coverage: ${Object.keys(THRESHOLDS).map((k) => `${k} ${summary.total[k].pct}%`).join(', ')} (thresholds ${JSON.stringify(THRESHOLDS)})`)
