import { phpUrlDecode, type CookiePair } from './text.js'

/**
 * PHP's readings of `$_COOKIE` and `$_GET` (main/php_variables.c
 * `php_default_treat_data`, then `php_register_variable_ex`). Bytes in,
 * bytes out. The first duplicate cookie wins ("According to rfc2965 … we
 * should skip it"); a later query parameter overwrites an earlier one.
 */

/** C `isspace` in the C locale. */
function isCSpace (c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d)
}

/**
 * `php_register_variable_ex`: leading spaces go, spaces and dots become `_`,
 * and a `[` opens an array (`name[key]`: not a string value, skipped) unless
 * no `]` follows, when it becomes `_` too. A NUL ends the name (C strings).
 * Names that mangling made start with `__Host-` or `__Secure-` are dropped.
 */
export function phpVariableName (raw: string): string | undefined {
  const nul = raw.indexOf('\0')
  let name = nul === -1 ? raw : raw.slice(0, nul)
  let start = 0
  while (name.charCodeAt(start) === 0x20) start++
  name = name.slice(start)
  const bracket = name.indexOf('[')
  if (bracket !== -1 && name.indexOf(']', bracket) !== -1) return undefined
  const mangled = name.replace(/[ .[]/g, '_')
  if (mangled === '') return undefined
  for (const prefix of ['__Host-', '__Secure-']) {
    if (mangled.startsWith(prefix) && !name.startsWith(prefix)) return undefined
  }
  return mangled
}

/**
 * `$_COOKIE` in PHP 7.4.11 and later (8.x): split at `;` (empty pieces
 * skipped), leading white space off the name, a piece without a name
 * skipped; values `php_raw_url_decode`d (`%XX` only); names as written since
 * CVE-2020-7070 ("Don't urldecode cookie names").
 */
export function phpCookies (header: string): CookiePair[] {
  return cookiePieces(header, (name, value) => ({ name, value: phpUrlDecode(value, false) }))
}

/**
 * `$_COOKIE` before PHP 7.4.11 (7.3, 7.4.0–7.4.10 and older, still widely
 * deployed): names and values both `php_url_decode`d, `+` a space too, so
 * `%73essionid` and `+sessionid` are `sessionid`.
 */
export function phpCookiesBefore7411 (header: string): CookiePair[] {
  return cookiePieces(header, (name, value) => ({ name: phpUrlDecode(name, true), value: phpUrlDecode(value, true) }))
}

function cookiePieces (header: string, decode: (name: string, value: string) => CookiePair): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const piece of header.split(';')) {
    if (piece === '') continue
    let start = 0
    while (start < piece.length && isCSpace(piece.charCodeAt(start))) start++
    const eq = piece.indexOf('=')
    if (start === eq || start === piece.length) continue
    const decoded = decode(eq === -1 ? piece.slice(start) : piece.slice(start, eq), eq === -1 ? '' : piece.slice(eq + 1))
    const name = phpVariableName(decoded.name)
    if (name !== undefined) pairs.push({ name, value: decoded.value })
  }
  return pairs
}

/**
 * `$_GET` (a session id in the URL with `session.use_only_cookies=0`): the
 * query split at `&` (`arg_separator.input`), names and values
 * `php_url_decode`d, so `?%73essionid=` and `?+sessionid=` both name
 * `sessionid`.
 */
export function phpQuery (query: string): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const piece of query.split('&')) {
    if (piece === '') continue
    const eq = piece.indexOf('=')
    const name = phpVariableName(phpUrlDecode(eq === -1 ? piece : piece.slice(0, eq), true))
    if (name !== undefined) pairs.push({ name, value: eq === -1 ? '' : phpUrlDecode(piece.slice(eq + 1), true) })
  }
  return pairs
}
