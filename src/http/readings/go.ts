import { isTokenChar, type CookiePair } from './text.js'

/** `textproto.TrimString`: ASCII space, tab, CR, LF. */
function trim (s: string): string {
  let start = 0
  let end = s.length
  const space = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a
  while (start < end && space(s.charCodeAt(start))) start++
  while (end > start && space(s.charCodeAt(end - 1))) end--
  return s.slice(start, end)
}

/**
 * Go `net/http` `readCookies` (src/net/http/cookie.go; `Request.Cookie`
 * returns the first): split at `;`, trimmed, a token name, the value not
 * trimmed but stripped of one pair of double quotes, and dropped if it holds
 * a byte outside 0x20-0x7E or `"`, `;`, `\`. Bytes in, bytes out.
 */
export function goCookies (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  for (const piece of trim(header).split(';')) {
    const part = trim(piece)
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = trim(eq === -1 ? part : part.slice(0, eq))
    if (name === '' || ![...name].every((c) => isTokenChar(c.charCodeAt(0)))) continue
    let value = eq === -1 ? '' : part.slice(eq + 1)
    if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    if (/[^\x20\x21\x23-\x3a\x3c-\x5b\x5d-\x7e]/.test(value)) continue
    pairs.push({ name, value })
  }
  return pairs
}
