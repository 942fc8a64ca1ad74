import { jsDecode, type CookiePair } from './text.js'

/**
 * jshttp/cookie, the parser of Express's cookie-parser, express-session and
 * Fastify's @fastify/cookie. The first duplicate wins. JavaScript strings in
 * and out (Node gives the header as Latin-1).
 */

/** Space and tab, the only white space 1.x and 2.x trim. */
function trimSpaceTab (s: string): string {
  let start = 0
  let end = s.length
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--
  return s.slice(start, end)
}

/**
 * The pairs both versions find (`parse` in 0.6 `index.js`, `parseCookie` in
 * 2.x `src/index.ts`): from each start, the next `=` and the next `;`; an
 * `=` beyond the `;` starts again after the last `;` before it.
 */
function pieces (str: string, each: (key: string, value: string) => void): void {
  const len = str.length
  if (len < 2) return
  let index = 0
  do {
    const eqIdx = str.indexOf('=', index)
    if (eqIdx === -1) break
    const semi = str.indexOf(';', index)
    const endIdx = semi === -1 ? len : semi
    if (eqIdx > endIdx) {
      index = str.lastIndexOf(';', eqIdx - 1) + 1
      continue
    }
    each(str.slice(index, eqIdx), str.slice(eqIdx + 1, endIdx))
    index = endIdx + 1
  } while (index < len)
}

/** jshttp/cookie 1.x and 2.x: name and value trimmed of spaces and tabs, the value `decodeURIComponent`d (kept as written if that fails). */
export function jshttpCookie (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  pieces(header, (key, value) => { pairs.push({ name: trimSpaceTab(key), value: jsDecode(trimSpaceTab(value)) }) })
  return pairs
}

/**
 * jshttp/cookie 0.6 and older (Express 4 apps pinned to it): JavaScript
 * `trim()` (U+00A0, U+3000, U+2028… too; in the Latin-1 header a raw 0xA0
 * byte is U+00A0), and a value starting with `"` loses its first and last
 * characters whatever they are (`"ENDEDx` reads `ENDED`).
 */
export function jshttpCookie06 (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  pieces(header, (key, raw) => {
    let value = raw.trim()
    if (value.charCodeAt(0) === 0x22) value = value.slice(1, -1)
    pairs.push({ name: key.trim(), value: jsDecode(value) })
  })
  return pairs
}
