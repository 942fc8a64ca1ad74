import { dotnetUnescapeDataString, isTokenChar, type CookiePair } from './text.js'

/**
 * ASP.NET Core's reading (`src/Http/Shared/CookieHeaderParserShared.cs`
 * `TryParseValues`, used by `RequestCookieCollection`): pairs separated by
 * `;` and by `,`; a value is a run of cookie-octets, or one in quotes (kept);
 * a pair that fails to parse is retried one character further on, so
 * `x"sessionid=…` and `a=b c sessionid=…` still read `sessionid`. Values are
 * `Uri.UnescapeDataString`d; names are compared case-insensitively and the
 * last duplicate wins.
 */

// cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
function isCookieValueChar (c: number): boolean {
  return c === 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
}
const isWhitespace = (c: number): boolean => c === 0x20 || c === 0x09
const isSeparator = (c: number): boolean => c === 0x3b || c === 0x2c

export function aspnetCookies (header: string): CookiePair[] {
  const s = header
  const n = s.length
  const pairs: CookiePair[] = []
  // `GetNextNonEmptyOrWhitespaceIndex` with empty values skipped: white
  // space, then any run of separators and white space.
  // After a value, the skip is asked again from the same place by every retry
  // that fails after the same value: its last answer is kept.
  let afterValue = { from: -1, at: 0, separator: false }
  const skipAfterValue = (from: number): { at: number, separator: boolean } => {
    if (afterValue.from !== from) afterValue = { from, ...skipFrom(from) }
    return afterValue
  }
  const skipFrom = (from: number): { at: number, separator: boolean } => {
    let p = from
    while (p < n && isWhitespace(s.charCodeAt(p))) p++
    if (p === n || !isSeparator(s.charCodeAt(p))) return { at: p, separator: false }
    while (p < n && (isSeparator(s.charCodeAt(p)) || isWhitespace(s.charCodeAt(p)))) p++
    return { at: p, separator: true }
  }
  // Runs of cookie-octets are maximal: every retry that starts inside one
  // ends where it ends, so the end is remembered (retries move forward only).
  let runStart = -1
  let runEnd = -1
  const octetsEnd = (from: number): number => {
    if (from < runStart || from >= runEnd) {
      runStart = from
      runEnd = from
      while (runEnd < n && isCookieValueChar(s.charCodeAt(runEnd))) runEnd++
      if (runEnd === from) return from
    }
    return runEnd
  }
  let index = 0
  while (index < n) {
    const start = skipFrom(index)
    if (start.at === n) break
    const nameStart = start.at
    let nameEnd = nameStart
    while (nameEnd < n && isTokenChar(s.charCodeAt(nameEnd))) nameEnd++
    const attempt = nameEnd > nameStart && s.charCodeAt(nameEnd) === 0x3d ? valueAfter(nameEnd + 1) : undefined
    if (attempt !== undefined) {
      const after = skipAfterValue(attempt.end)
      if (after.separator || after.at === n) {
        if (attempt.value !== '') pairs.push({ name: s.slice(nameStart, nameEnd), value: dotnetUnescapeDataString(attempt.value) })
        index = after.at
        continue
      }
    }
    // A failed pair is retried from the next character (`index++`); every
    // retry inside the same name fails the same way, so the next one that
    // can differ starts after it.
    index = nameEnd > nameStart ? nameEnd : nameStart + 1
  }
  return pairs

  /** `GetCookieValue`: the value (empty when a quote never closes) and where parsing goes on. */
  function valueAfter (from: number): { value: string, end: number } {
    if (from >= n) return { value: '', end: from }
    const quoted = s.charCodeAt(from) === 0x22
    let p = octetsEnd(quoted ? from + 1 : from)
    if (quoted) {
      if (p === n || s.charCodeAt(p) !== 0x22) return { value: '', end: p }
      p++
    }
    return { value: s.slice(from, p), end: p }
  }
}
