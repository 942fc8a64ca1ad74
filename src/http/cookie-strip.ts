import { allSessionCookieValues } from './cookie-readings.js'

/** Optional white space around a piece of the header: every reading skips it. */
function trimOws (s: string): string {
  let start = 0
  let end = s.length
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--
  return s.slice(start, end)
}

/**
 * The Cookie header without every `;`-separated piece from which some
 * reading (`COOKIE_READINGS`, read piece by piece) yields a value of the
 * cookie `name` that `drop` picks; undefined when nothing is left. The pieces
 * kept are joined with `; `.
 *
 * A piece read alone is not always read as it is inside the whole header (a
 * quoted value spanning `;`, a `$Version` that only counts first): whoever
 * forwards the result reads it again with every reading and refuses the
 * request if an ended session is still there.
 */
export function withoutSessionPieces (header: string, name: string, drop: (value: string) => boolean): string | undefined {
  const kept: string[] = []
  for (const piece of header.split(';')) {
    const trimmed = trimOws(piece)
    if (trimmed === '') continue
    // One piece is never too many to read; if it were, it could not be vouched for either.
    if (allSessionCookieValues(trimmed, name)?.some(drop) ?? true) continue
    kept.push(trimmed)
  }
  return kept.length === 0 ? undefined : kept.join('; ')
}

/**
 * Takes the pieces named exactly `name` (the gateway's own cookie, which the
 * app never set) out of the Cookie header: the first one's value, and the
 * header without them (undefined when nothing is left). Browsers send a
 * cookie back under the very name it was set with.
 */
export function takeCookie (header: string, name: string): { value: string | undefined, rest: string | undefined } {
  let value: string | undefined
  const kept: string[] = []
  for (const piece of header.split(';')) {
    const trimmed = trimOws(piece)
    if (trimmed === '') continue
    const eq = trimmed.indexOf('=')
    if (eq >= 0 && trimOws(trimmed.slice(0, eq)) === name) {
      value ??= trimOws(trimmed.slice(eq + 1))
      continue
    }
    kept.push(trimmed)
  }
  return { value, rest: kept.length === 0 ? undefined : kept.join('; ') }
}
