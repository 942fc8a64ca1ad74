import type { SessionView } from '../admin/operations.js'

/**
 * Plain-text tables for the admin commands: columns padded to their widest
 * cell, two spaces apart, no borders, so the output reads in a terminal and
 * still splits on whitespace in a pinch (`--json` is the format for scripts).
 */

/** Enough of a session id to tell sessions apart and to paste into `sessions end --id` (which takes the whole id). */
const ID_CHARS = 12
/** Device names may be 100 characters; a row should still fit a terminal. */
const DEVICE_CHARS = 32

export function table (headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(headers), ...rows.map(line)].join('\n') + '\n'
}

export function sessionTable (sessions: readonly SessionView[]): string {
  return table(
    ['SESSION', 'USER', 'SCOPE', 'STATE', 'SIGNED IN', 'LAST USED', 'DEVICE', 'IP'],
    sessions.map((s) => [
      s.id.slice(0, ID_CHARS),
      s.user,
      s.scope,
      s.pendingUntil === undefined ? s.state : `${s.state} until ${time(s.pendingUntil)}`,
      time(s.signedInAt),
      time(s.lastUsedAt),
      shorten(s.device ?? '-', DEVICE_CHARS),
      s.ip ?? '-'
    ])
  )
}

/** `2026-01-01T09:30:00.000Z` → `2026-01-01 09:30:00Z`: UTC, as the API gives it, without the noise. */
export function time (iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?Z$/.exec(iso)
  return m === null ? iso : `${m[1] as string} ${m[2] as string}Z`
}

/** A limit of 0 means no limit. */
export function limitText (limit: number): string {
  return limit === 0 ? 'unlimited' : String(limit)
}

export function plural (n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

function shorten (text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
