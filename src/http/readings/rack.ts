import { rubyWwwFormDecode, type CookiePair } from './text.js'

/**
 * Rack's readings (Rails, Sinatra): `lib/rack/utils.rb`
 * `parse_cookies_header`. The first duplicate wins. Bytes in, bytes out.
 */

/** Ruby's `split` at `;` and the spaces after it: trailing empty pieces dropped (leading ones are skipped by the callers). */
function rubySplit (header: string): string[] {
  const pieces = header.split(/; */)
  while (pieces.length > 0 && pieces[pieces.length - 1] === '') pieces.pop()
  return pieces
}

/**
 * Rack 2.2.3 and later (3.x): split at `;` and the spaces after it (names
 * are not trimmed otherwise), `split('=', 2)`, the value `unescape`d
 * (`URI.decode_www_form_component`: `+` is a space; a stray `%` keeps it as
 * written).
 */
export function rackCookies (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const piece of rubySplit(header)) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    if (eq === -1) continue // the value is nil
    const raw = piece.slice(eq + 1)
    pairs.push({ name: piece.slice(0, eq), value: rubyWwwFormDecode(raw) ?? raw })
  }
  return pairs
}

/**
 * Rack 2.2.2 and older: `parse_query(header, ';')`, which unescapes the name
 * as well as the value, so `%73essionid=` and `+sessionid=` are read under
 * other names (fixed in 2.2.3, CVE-2020-8184).
 */
export function rackCookiesBefore223 (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const piece of rubySplit(header)) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    if (eq === -1) continue
    const name = piece.slice(0, eq)
    const raw = piece.slice(eq + 1)
    pairs.push({ name: rubyWwwFormDecode(name) ?? name, value: rubyWwwFormDecode(raw) ?? raw })
  }
  return pairs
}
