#!/usr/bin/env node
// Fails `npm test` when coverage of src/ drops below the chosen thresholds.
import { readFileSync } from 'node:fs'

const THRESHOLDS = { lines: 95, statements: 95, functions: 90, branches: 88 }

let summary
try {
  summary = JSON.parse(readFileSync(new URL('../.tap/report/coverage-summary.json', import.meta.url), 'utf8'))
} catch (err) {
  console.error(`check-coverage: no coverage summary (${err.code ?? err.message}); did tap run?`)
  process.exit(1)
}
const failures = Object.entries(THRESHOLDS)
  .filter(([kind, min]) => summary.total[kind].pct < min)
  .map(([kind, min]) => `${kind} ${summary.total[kind].pct}% < ${min}%`)
if (failures.length > 0) {
  console.error(`check-coverage: coverage below the thresholds: ${failures.join(', ')}`)
  process.exit(1)
}
console.log(`check-coverage: ${Object.keys(THRESHOLDS).map((k) => `${k} ${summary.total[k].pct}%`).join(', ')} (thresholds ${JSON.stringify(THRESHOLDS)})`)
