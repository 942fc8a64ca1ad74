import { isTokenChar, type CookiePair } from './text.js'

/**
 * Tomcat's readings (Spring on Tomcat, any servlet app): the bytes the
 * container keeps per cookie (`ServerCookies`), which is what
 * `CoyoteAdapter.parseSessionCookiesId` takes as the session id (each
 * JSESSIONID is tried "until one is valid"). Bytes in, bytes out.
 */

const SPACE = 0x20
const TAB = 0x09
const QUOTE = 0x22
const COMMA = 0x2c
const SEMICOLON = 0x3b
const EQUALS = 0x3d
const BACKSLASH = 0x5c

/** `Cookie.isCookieOctet`: RFC 6265 cookie-octet, plus 0x80-0xFF for UTF-8. */
function isCookieOctet (c: number): boolean {
  return !(c < 0x21 || c === QUOTE || c === COMMA || c === SEMICOLON || c === BACKSLASH || c === 0x7f)
}

/** `Cookie.isText`: TAB, SP to 0xFF but DEL. */
function isText (c: number): boolean {
  return c === TAB || (c >= SPACE && c !== 0x7f)
}

/** `org.apache.tomcat.util.http.parser.Cookie`'s ByteBuffer: a position over the header. */
class Bytes {
  position = 0
  readonly s: string
  constructor (s: string) { this.s = s }
  get remaining (): boolean { return this.position < this.s.length }
  peek (): number { return this.s.charCodeAt(this.position) }
  skipLWS (): void { while (this.remaining && (this.peek() === SPACE || this.peek() === TAB)) this.position++ }
  /** `skipByte`: 'found', 'not-found' or 'eof'. */
  skip (target: number): 'found' | 'not-found' | 'eof' {
    if (!this.remaining) return 'eof'
    if (this.peek() !== target) return 'not-found'
    this.position++
    return 'found'
  }

  skipUntil (stop: (c: number) => boolean): void {
    while (this.remaining) if (stop(this.s.charCodeAt(this.position++))) break
  }

  /** `readToken`: possibly empty. */
  readToken (): string {
    const start = this.position
    while (this.remaining && isTokenChar(this.peek())) this.position++
    return this.s.slice(start, this.position)
  }

  /**
   * `readCookieValueRfc6265` (`commaEnds`: `readCookieValue`, used for
   * `$Version`): an optional opening quote, then cookie-octets up to `;`, SP,
   * HTAB (or the closing quote, consumed). A quote that never closes still
   * gives the value. Anything else: invalid (undefined).
   */
  readCookieValue (commaEnds: boolean): string | undefined {
    const quoted = this.remaining && this.peek() === QUOTE
    if (quoted) this.position++
    const start = this.position
    while (this.remaining) {
      const c = this.peek()
      if (isCookieOctet(c)) { this.position++; continue }
      if (c === SEMICOLON || c === SPACE || c === TAB || (commaEnds && c === COMMA)) return this.s.slice(start, this.position)
      if (quoted && c === QUOTE) { this.position++; return this.s.slice(start, this.position - 1) }
      return undefined
    }
    return this.s.slice(start)
  }
}

/**
 * Tomcat 10.1 and 11 `Rfc6265CookieProcessor` (`parser/Cookie.parseCookie`):
 * RFC 6265 pairs separated by `;`; a pair with an invalid value is skipped
 * to the next `;`.
 */
export function tomcatRfc6265 (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  parseRfc6265(new Bytes(header), pairs)
  return pairs
}

function parseRfc6265 (bb: Bytes, pairs: CookiePair[]): void {
  for (;;) {
    bb.skipLWS()
    const name = bb.readToken()
    let value: string | undefined
    bb.skipLWS()
    if (bb.skip(EQUALS) === 'found') {
      bb.skipLWS()
      value = bb.readCookieValue(false)
      if (value === undefined) { bb.skipUntil((c) => c === SEMICOLON); continue }
      bb.skipLWS()
    }
    const end = bb.skip(SEMICOLON)
    if (end === 'not-found') { bb.skipUntil((c) => c === SEMICOLON); continue }
    if (name !== '') pairs.push({ name, value: value ?? '' })
    if (end === 'eof') return
  }
}

/**
 * Tomcat 9 `Rfc6265CookieProcessor` (its default): as 10.1, except that a
 * header starting with `$Version=0` or `$Version=1` then `;` or `,` is read
 * as RFC 2109, where a comma also separates cookies, values are tokens or
 * quoted strings (the quotes kept), and `$Path`/`$Domain` after a cookie are
 * its attributes.
 */
export function tomcat9Rfc6265 (header: string): CookiePair[] {
  const bb = new Bytes(header)
  const pairs: CookiePair[] = []
  bb.skipLWS()
  const mark = bb.position
  if (!header.startsWith('$Version', bb.position)) { parseRfc6265(bb, pairs); return pairs }
  bb.position += '$Version'.length
  bb.skipLWS()
  if (bb.skip(EQUALS) !== 'found') { bb.position = mark; parseRfc6265(bb, pairs); return pairs }
  bb.skipLWS()
  const version = bb.readCookieValue(true)
  if (version === '0' || version === '1') {
    bb.skipLWS()
    if (!bb.remaining) return pairs
    const c = bb.s.charCodeAt(bb.position++)
    if (c === SEMICOLON || c === COMMA) parseRfc2109(bb, pairs)
  }
  // Any other version: the header is ignored.
  return pairs
}

function parseRfc2109 (bb: Bytes, pairs: CookiePair[]): void {
  const skipInvalid = (): void => { bb.skipUntil((c) => c === SEMICOLON || c === COMMA) }
  /** `,` or `;` after a cookie or attribute: whether attributes may follow, and whether anything does. */
  const separator = (): { attributes: boolean, more: boolean } | undefined => {
    if (bb.skip(COMMA) === 'found') return { attributes: false, more: true }
    const end = bb.skip(SEMICOLON)
    if (end === 'eof') return { attributes: false, more: false }
    return end === 'found' ? { attributes: true, more: true } : undefined
  }
  for (;;) {
    bb.skipLWS()
    const name = bb.readToken()
    let value: string | undefined
    bb.skipLWS()
    if (bb.skip(EQUALS) === 'found') {
      bb.skipLWS()
      value = readRfc2109Value(bb, false)
      if (value === undefined) { skipInvalid(); continue }
      bb.skipLWS()
    }
    let next = separator()
    if (next === undefined) { skipInvalid(); continue }
    // `$Path` then `$Domain`, each only where attributes may still follow.
    for (const [attribute, allowSlash] of [['$Path', true], ['$Domain', false]] as const) {
      if (next === undefined || !next.attributes) break
      bb.skipLWS()
      if (!bb.s.startsWith(attribute, bb.position)) continue
      bb.position += attribute.length
      bb.skipLWS()
      if (bb.skip(EQUALS) !== 'found') { next = undefined; break }
      bb.skipLWS()
      if (readRfc2109Value(bb, allowSlash) === undefined) { next = undefined; break }
      bb.skipLWS()
      next = separator()
    }
    if (next === undefined) { skipInvalid(); continue }
    if (name !== '' && value !== undefined && value !== '') pairs.push({ name, value })
    if (!next.more) return
  }
}

/** `readCookieValueRfc2109`: a quoted string (quotes kept; undefined if it never closes) or a token. */
function readRfc2109Value (bb: Bytes, allowSlash: boolean): string | undefined {
  if (!bb.remaining) return undefined
  if (bb.peek() !== QUOTE) {
    const start = bb.position
    while (bb.remaining && (isTokenChar(bb.peek()) || (allowSlash && bb.peek() === 0x2f))) bb.position++
    return bb.s.slice(start, bb.position)
  }
  const start = bb.position++
  let escaped = false
  while (bb.remaining) {
    const c = bb.s.charCodeAt(bb.position++)
    if (c === BACKSLASH) escaped = true
    else if (escaped && c < 0x80) escaped = false
    else if (c === QUOTE) return bb.s.slice(start, bb.position)
    else if (isText(c)) escaped = false
    else return undefined
  }
  return undefined
}

// LegacyCookieProcessor's separators (with its defaults: allowHttpSepsInV0
// false, forwardSlashIsSeparator false unless STRICT_SERVLET_COMPLIANCE).
const HTTP_SEPARATORS = new Uint8Array(128)
for (const c of '\t "(),:;<=>?@[\\]{}') HTTP_SEPARATORS[c.charCodeAt(0)] = 1
const V0_SEPARATORS = new Uint8Array(128)
for (const c of ',; \t') V0_SEPARATORS[c.charCodeAt(0)] = 1

/** Thrown where Tomcat throws ("Control character in cookie value or attribute."): the header is read no further. */
class ControlCharacter extends Error {}

/** `isHttpSeparator`/`isV0Separator` throw on a control character or a byte ≥ 0x7F (a Java char from a negative byte). */
function separatorIn (table: Uint8Array, c: number): boolean {
  if ((c < 0x20 || c >= 0x7f) && c !== TAB) throw new ControlCharacter()
  return table[c] === 1
}
const isHttpSeparator = (c: number): boolean => separatorIn(HTTP_SEPARATORS, c)
const isV0Separator = (c: number): boolean => separatorIn(V0_SEPARATORS, c)
const isWhiteSpace = (c: number): boolean => c === SPACE || c === TAB || c === 0x0a || c === 0x0d || c === 0x0c

/**
 * Tomcat 9 `LegacyCookieProcessor` (`processCookieHeader`; the processor of
 * Tomcat 8.0 and earlier, still configured where old clients matter; gone in
 * Tomcat 10): cookies separated by `,` as well as `;` (and by white space),
 * a value ends at the first HTTP separator (`ENDED=x` and `ENDED:x` read
 * `ENDED`), a quoted value is unquoted (`\"` unescaped) unless it never
 * closes, and a `$Version` first makes the header RFC 2109.
 */
export function tomcat9Legacy (header: string): CookiePair[] {
  const pairs: CookiePair[] = []
  try {
    legacyCookies(header, pairs)
  } catch (err) {
    // Tomcat keeps the cookies it had read before the exception.
    if (!(err instanceof ControlCharacter)) throw err
  }
  return pairs
}

function legacyCookies (b: string, pairs: CookiePair[]): void {
  const end = b.length
  let pos = 0
  let version = 0
  let current: CookiePair | undefined
  const at = (p: number): number => b.charCodeAt(p)
  const tokenEnd = (from: number): number => {
    let p = from
    while (p < end && !isHttpSeparator(at(p))) p++
    return p
  }
  while (pos < end) {
    let quoted = false
    while (pos < end && (isHttpSeparator(at(pos)) || isV0Separator(at(pos)) || isWhiteSpace(at(pos)))) pos++
    if (pos >= end) return
    let special = false
    if (at(pos) === 0x24) { special = true; pos++ }
    const nameStart = pos
    const nameEnd = tokenEnd(pos)
    pos = nameEnd
    let valueStart = -1
    let valueEnd = -1
    while (pos < end && isWhiteSpace(at(pos))) pos++
    if (pos < end - 1 && at(pos) === EQUALS) {
      do pos++; while (pos < end && isWhiteSpace(at(pos)))
      if (pos >= end) return
      const c = at(pos)
      if (c === QUOTE) {
        quoted = true
        valueStart = pos + 1
        valueEnd = quotedValueEnd(b, valueStart)
        pos = valueEnd
        // An unterminated quoted value at the end of the header: nothing more is read.
        if (pos >= end) return
      } else if (c === SEMICOLON || c === COMMA) {
        valueStart = valueEnd = -1
      } else if ((version === 0 && !isV0Separator(c) && false) || !isHttpSeparator(c) || c === EQUALS) {
        valueStart = pos
        valueEnd = tokenEnd(valueStart)
        pos = valueEnd
        if (valueStart === valueEnd) valueStart = valueEnd = -1
      } else {
        // An invalid value: skip to the next separator, and forget the current cookie.
        while (pos < end && at(pos) !== SEMICOLON && at(pos) !== COMMA) pos++
        pos++
        current = undefined
        continue
      }
    } else {
      pos = nameEnd
    }
    while (pos < end && isWhiteSpace(at(pos))) pos++
    while (pos < end && at(pos) !== SEMICOLON && at(pos) !== COMMA) pos++
    pos++
    const name = b.slice(nameStart, nameEnd)
    if (special) {
      if (name === 'Version' && current === undefined) {
        // `bytes[valueStart]` with no value throws in Tomcat.
        if (valueStart === -1) throw new ControlCharacter()
        if (at(valueStart) === 0x31 && valueEnd === valueStart + 1) version = 1
      }
      continue
    }
    // Name-only cookies are skipped (allowNameOnly is false).
    if (valueStart === -1) continue
    let value = b.slice(valueStart, valueEnd)
    if (quoted && value.includes('"')) {
      // `unescapeDoubleQuotes` reads one byte past a trailing backslash: Tomcat throws there.
      if (value.endsWith('\\')) throw new ControlCharacter()
      value = value.replace(/\\"/g, '"')
    }
    current = { name, value }
    pairs.push(current)
  }
}

/** `getQuotedValueEndPosition`: the closing quote's position, `\` escaping the next byte; the end if none. */
function quotedValueEnd (b: string, from: number): number {
  let pos = from
  while (pos < b.length) {
    const c = b.charCodeAt(pos)
    if (c === QUOTE) return pos
    if (c === BACKSLASH && pos < b.length - 1) pos += 2
    else pos++
  }
  return b.length
}
