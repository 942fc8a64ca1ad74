import { isAsciiSpace, pythonStrip, pythonUnquote, type CookiePair } from './text.js'

/**
 * Python's readings. Each takes the header as text: under WSGI the UTF-8
 * decoding of its bytes (`wsgiText`), under ASGI its bytes as Latin-1 (Django
 * `core/handlers/asgi.py`: `value.decode('latin1')`), which is the header as
 * Node gives it.
 */

/**
 * Django `django/http/cookie.py` `parse_cookie` (also Starlette's
 * `cookie_parser`, a copy): split at `;`, a chunk without `=` has the empty
 * name, `str.strip()` on name and value (Unicode white space: U+3000, U+00A0,
 * U+0085, U+2028…), then `http.cookies._unquote`. The last duplicate wins.
 */
export function djangoParseCookie (text: string): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const chunk of text.split(';')) {
    const eq = chunk.indexOf('=')
    const name = pythonStrip(eq === -1 ? '' : chunk.slice(0, eq))
    const value = pythonStrip(eq === -1 ? chunk : chunk.slice(eq + 1))
    if (name !== '' || value !== '') pairs.push({ name, value: pythonUnquote(value) })
  }
  return pairs
}

/**
 * Werkzeug `sansio/http.py` `parse_cookie` (Flask): the pattern
 * `([^=;]*)(?:\s*=\s*("(?:[^\\"]|\\.)*"|.*?))?\s*;\s*` over the header with a
 * `;` appended, so a quoted value may hold `;`. Name and value are
 * `str.strip()`ped; a value in quotes is unslashed (`\ooo` octal bytes,
 * `\x` → `x`) as UTF-8 bytes and decoded back with replacement. A MultiDict:
 * `.get()` is the first duplicate.
 *
 * Written as a scan rather than that regex: the regex always matches at the
 * position where the last match ended, with the name running to the first
 * `=` or `;`, so the scan is exact and linear.
 */
export function werkzeugParseCookie (text: string): CookiePair[] {
  // The appended `;` is virtual (position n): a concatenated string would be
  // a cons string, which V8 reads character by character far more slowly.
  const n = text.length
  const at = (k: number): number => k < n ? text.charCodeAt(k) : 0x3b
  const pairs: CookiePair[] = []
  let i = 0
  while (i <= n) {
    const start = i
    let k = start
    while (at(k) !== 0x3d && at(k) !== 0x3b) k++
    let raw = ''
    let semi = k
    if (at(k) === 0x3d) {
      let r = k + 1
      while (isAsciiSpace(at(r))) r++
      const quotedEnd = at(r) === 0x22 ? quotedStringEnd(text, r) : -1
      let afterQuoted = quotedEnd
      while (afterQuoted !== -1 && isAsciiSpace(at(afterQuoted))) afterQuoted++
      if (afterQuoted !== -1 && at(afterQuoted) === 0x3b) {
        raw = text.slice(r, quotedEnd)
        semi = afterQuoted
      } else {
        // `.*?` then `\s*;`: up to the first `;`, without the spaces before it.
        semi = text.indexOf(';', r)
        if (semi === -1) semi = n
        let end = semi
        while (end > r && isAsciiSpace(at(end - 1))) end--
        raw = text.slice(r, end)
      }
    }
    i = semi + 1
    while (i < n && isAsciiSpace(at(i))) i++
    const name = pythonStrip(text.slice(start, k))
    let value = pythonStrip(raw)
    if (name === '') continue
    if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = werkzeugUnslash(value.slice(1, -1))
    pairs.push({ name, value })
  }
  return pairs
}

/**
 * The end (after the closing quote) of `"(?:[^\\"]|\\.)*"` at `start`, or -1.
 * (`.` is any character but a newline.)
 */
function quotedStringEnd (s: string, start: number): number {
  for (let p = start + 1; p < s.length; p++) {
    const c = s.charCodeAt(p)
    if (c === 0x22) return p + 1
    if (c === 0x5c) {
      if (p + 1 >= s.length || s.charCodeAt(p + 1) === 0x0a) return -1
      p++
    }
  }
  return -1
}

/** Werkzeug's `_cookie_unslash_re` (`\\([0-3][0-7]{2}|.)` over the UTF-8 bytes), then UTF-8 with replacement. */
function werkzeugUnslash (inner: string): string {
  if (!inner.includes('\\')) return inner
  const b = Buffer.from(inner, 'utf8')
  const out: number[] = []
  const octal = (c: number | undefined, hi: number): boolean => c !== undefined && c >= 0x30 && c <= hi
  for (let p = 0; p < b.length; p++) {
    const c = b[p] as number
    if (c === 0x5c && octal(b[p + 1], 0x33) && octal(b[p + 2], 0x37) && octal(b[p + 3], 0x37)) {
      out.push(parseInt(b.subarray(p + 1, p + 4).toString('latin1'), 8))
      p += 3
    } else if (c === 0x5c && p + 1 < b.length && b[p + 1] !== 0x0a) {
      out.push(b[p + 1] as number)
      p++
    } else {
      out.push(c)
    }
  }
  return Buffer.from(out).toString('utf8')
}

// http.cookies `_LegalKeyChars` / `_LegalValueChars`: `\w` (ASCII, re.ASCII)
// and these; a value may also hold `[` and `]`.
const LEGAL_KEY = new Uint8Array(128)
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_!#%&'~`><@,:/$*+-.^|)(?}{=") LEGAL_KEY[c.charCodeAt(0)] = 1
const isLegalKey = (c: number): boolean => c < 128 && LEGAL_KEY[c] === 1
const isLegalValue = (c: number): boolean => isLegalKey(c) || c === 0x5b || c === 0x5d
/** The `expires` special case of `_CookiePattern`, so a date with spaces and a comma is one value. */
const EXPIRES = /[A-Za-z0-9_]{3},[ \t\n\v\f\r][A-Za-z0-9_ \t\n\v\f\r-]{9,11}[ \t\n\v\f\r][0-9:]{8}[ \t\n\v\f\r]GMT/y
/** http.cookies `Morsel._reserved`: these names are attributes of the cookie before them, not cookies. */
const RESERVED = new Set(['expires', 'path', 'comment', 'domain', 'max-age', 'secure', 'httponly', 'version', 'samesite'])
const FLAGS = new Set(['secure', 'httponly'])

/**
 * Python's `http.cookies.SimpleCookie.load` (CPython `Lib/http/cookies.py`
 * `__parse_string` with `_CookiePattern`; aiohttp, Bottle and others read
 * requests with it): pairs separated by `;` or by white space, `$` names
 * skipped, a reserved name (path, expires…) an attribute, and one malformed
 * pair empties the whole header. Values are `_unquote`d; the last duplicate
 * wins. (Keys a Morsel refuses raise CookieError once applied; the pairs
 * before them are kept, so they are all returned.)
 *
 * Written as a scan that tries, in the regex's own order, the only key
 * lengths that can lead to a match (the non-greedy key stops at an `=` inside
 * the key run, or at its end), so that no header costs more than linear time.
 */
export function simpleCookieLoad (text: string): CookiePair[] {
  const pairs: CookiePair[] = []
  let morselSeen = false
  let i = 0
  const n = text.length
  while (i < n) {
    const match = simpleCookieMatch(text, i)
    if (match === undefined) break
    i = match.end
    const { key, value } = match
    if (key.startsWith('$')) continue
    if (RESERVED.has(key.toLowerCase())) {
      if (!morselSeen || (value === undefined && !FLAGS.has(key.toLowerCase()))) return []
      continue
    }
    if (value === undefined) return []
    pairs.push({ name: key, value: pythonUnquote(value) })
    morselSeen = true
  }
  return pairs
}

interface PatternMatch { key: string, value: string | undefined, end: number }

function simpleCookieMatch (s: string, from: number): PatternMatch | undefined {
  const n = s.length
  let j = from
  while (j < n && isAsciiSpace(s.charCodeAt(j))) j++
  if (j >= n || !isLegalKey(s.charCodeAt(j))) return undefined
  let runEnd = j
  while (runEnd < n && isLegalKey(s.charCodeAt(runEnd))) runEnd++
  // Legal-value runs are maximal: from any position inside the key run the
  // run ends at the same place, so it is found once.
  let valueRunEnd = -1
  for (let k = j + 1; k <= runEnd; k++) {
    if (k < runEnd && s.charCodeAt(k) !== 0x3d) continue
    // With a value: `\s*=\s*` then a value, then `\s*(\s+|;|$)`.
    let q = k
    while (q < n && isAsciiSpace(s.charCodeAt(q))) q++
    if (s.charCodeAt(q) === 0x3d) {
      let r = q + 1
      while (r < n && isAsciiSpace(s.charCodeAt(r))) r++
      if (valueRunEnd < r) {
        valueRunEnd = r
        while (valueRunEnd < n && isLegalValue(s.charCodeAt(valueRunEnd))) valueRunEnd++
      }
      const found = valueAt(s, r, valueRunEnd)
      if (found !== undefined) return { key: s.slice(j, k), value: s.slice(r, found.valueEnd), end: found.end }
      // Backtracking the spaces after `=`: an empty value followed by white space.
      if (r > q + 1) return { key: s.slice(j, k), value: '', end: r }
    }
    // Without a value.
    const end = terminator(s, k)
    if (end !== -1) return { key: s.slice(j, k), value: undefined, end }
  }
  return undefined
}

/**
 * A value at `r` followed by `\s*(\s+|;|$)`: quoted, an expires date, or
 * the run of legal characters from `r` (greedy), which ends at `legalRunEnd`
 * when `r` is inside one.
 */
function valueAt (s: string, r: number, legalRunEnd: number): { valueEnd: number, end: number } | undefined {
  if (s.charCodeAt(r) === 0x22) {
    const quoted = quotedStringEnd(s, r)
    const end = quoted === -1 ? -1 : terminator(s, quoted)
    if (end !== -1) return { valueEnd: quoted, end }
  }
  // An expires date starts with three word characters and a comma.
  if (s.charCodeAt(r + 3) === 0x2c) {
    EXPIRES.lastIndex = r
    if (EXPIRES.test(s)) {
      // {9,11} can only end where the rest of the date fits; the terminator decides among them.
      for (let len = 11; len >= 9; len--) {
        const m = new RegExp(`[A-Za-z0-9_]{3},[ \\t\\n\\v\\f\\r][A-Za-z0-9_ \\t\\n\\v\\f\\r-]{${len}}[ \\t\\n\\v\\f\\r][0-9:]{8}[ \\t\\n\\v\\f\\r]GMT`, 'y')
        m.lastIndex = r
        if (!m.test(s)) continue
        const end = terminator(s, m.lastIndex)
        if (end !== -1) return { valueEnd: m.lastIndex, end }
      }
    }
  }
  const legalEnd = r < s.length && isLegalValue(s.charCodeAt(r)) ? legalRunEnd : r
  const end = terminator(s, legalEnd)
  return end === -1 ? undefined : { valueEnd: legalEnd, end }
}

/** Where `\s*(\s+|;|$)` at `p` ends, or -1. */
function terminator (s: string, p: number): number {
  let f = p
  while (f < s.length && isAsciiSpace(s.charCodeAt(f))) f++
  if (f === s.length) return f
  if (s.charCodeAt(f) === 0x3b) return f + 1
  return f > p ? f : -1
}
