/**
 * Text operations the cookie readings share: how each language turns header
 * bytes into text, trims it and decodes escapes.
 *
 * Every reading takes the Cookie header as Node gives it: one character per
 * byte (Latin-1). What a reading returns is in its framework's own terms:
 * byte-oriented frameworks (PHP, Rack, Tomcat, Go) return bytes as Latin-1
 * characters, text-oriented ones (Python, JavaScript, .NET) return their
 * strings. Session ids are ASCII, where both agree.
 */

/** One `name=value` pair as a framework hands it to the app (after its own decoding). */
export interface CookiePair {
  name: string
  value: string
}

/**
 * Python's `str.isspace()`, which `str.strip()` strips: Unicode White_Space
 * plus the separators \x1c-\x1f (CPython `Objects/unicodectype.c`,
 * `_PyUnicode_IsWhitespace`). Checked against /usr/bin/python3 in
 * test/cookie-readings-real.test.ts.
 */
export function isPythonSpace (c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)
  if (c < 0x85) return false
  return c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
}

/** Python's `str.strip()` with no argument. */
export function pythonStrip (s: string): string {
  let start = 0
  let end = s.length
  while (start < end && isPythonSpace(s.charCodeAt(start))) start++
  while (end > start && isPythonSpace(s.charCodeAt(end - 1))) end--
  return start === 0 && end === s.length ? s : s.slice(start, end)
}

/** ASCII white space as Python's `re.ASCII` `\s` matches it: space, \t \n \v \f \r. */
export function isAsciiSpace (c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d)
}

/**
 * The header as a WSGI framework reads it: PEP 3333 hands it over as Latin-1
 * text, which Django (`core/handlers/wsgi.py` `get_str_from_wsgi`) and
 * Werkzeug (`_internal.py` `_wsgi_decoding_dance`) encode back to bytes and
 * decode as UTF-8, invalid bytes becoming U+FFFD. A UTF-8 U+3000 is then one
 * white-space character that `str.strip()` removes.
 */
export function wsgiText (header: string): string {
  // Pure ASCII stays as it is: no copy on the common path.
  for (let i = 0; i < header.length; i++) {
    if (header.charCodeAt(i) > 0x7f) return Buffer.from(header, 'latin1').toString('utf8')
  }
  return header
}

/**
 * Python's `http.cookies._unquote`: a value in double quotes loses them, and
 * inside, `\ooo` (octal, first digit 0-3) becomes that character and `\x`
 * becomes `x` (`.` in the pattern: any character but a newline).
 */
export function pythonUnquote (s: string): string {
  if (s.length < 2 || s.charCodeAt(0) !== 0x22 || s.charCodeAt(s.length - 1) !== 0x22) return s
  const inner = s.slice(1, -1)
  if (!inner.includes('\\')) return inner
  return inner.replace(/\\(?:([0-3][0-7][0-7])|([^\n]))/g, (_m, octal: string | undefined, other: string | undefined) =>
    octal !== undefined ? String.fromCharCode(parseInt(octal, 8)) : (other as string))
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  const lower = c | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}

/**
 * PHP's `php_url_decode` (`plusAsSpace`) and `php_raw_url_decode`
 * (ext/standard/url.c): `%XX` with two hex digits becomes that byte, anything
 * else stays as written. Bytes in, bytes out (Latin-1 characters).
 */
export function phpUrlDecode (s: string, plusAsSpace: boolean): string {
  if (!s.includes('%') && !(plusAsSpace && s.includes('+'))) return s
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0x2b && plusAsSpace) {
      out += ' '
    } else if (c === 0x25 && i + 2 < s.length && hexValue(s.charCodeAt(i + 1)) >= 0 && hexValue(s.charCodeAt(i + 2)) >= 0) {
      out += String.fromCharCode(hexValue(s.charCodeAt(i + 1)) * 16 + hexValue(s.charCodeAt(i + 2)))
      i += 2
    } else {
      out += s[i]
    }
  }
  return out
}

/**
 * Ruby's `URI.decode_www_form_component`, which Rack's `Utils.unescape` is:
 * `+` is a space and `%XX` a byte, and a `%` not followed by two hex digits
 * fails the whole string (Rack then keeps it as written). Bytes out.
 */
export function rubyWwwFormDecode (s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s
  if (/%(?![0-9a-fA-F]{2})/.test(s)) return undefined
  return phpUrlDecode(s, true)
}

/** jshttp/cookie's `decode`: `decodeURIComponent` when there is a `%`, the value as written when that fails. */
export function jsDecode (s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/**
 * .NET's `Uri.UnescapeDataString` (ASP.NET Core's cookie values): each run of
 * `%XX` escapes is decoded as UTF-8; escapes that do not form valid UTF-8 stay
 * as written, and so does a `%` without two hex digits.
 */
export function dotnetUnescapeDataString (s: string): string {
  if (!s.includes('%')) return s
  return s.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replace(/%/g, ''), 'hex')
    let out = ''
    let i = 0
    while (i < bytes.length) {
      const length = utf8SequenceLength(bytes, i)
      if (length === 0) {
        out += run.slice(i * 3, i * 3 + 3)
        i++
      } else {
        out += bytes.subarray(i, i + length).toString('utf8')
        i += length
      }
    }
    return out
  })
}

/** The length of the well-formed UTF-8 sequence at `i` (Unicode Table 3-7), or 0. */
function utf8SequenceLength (b: Buffer, i: number): number {
  const c = b[i] as number
  if (c < 0x80) return 1
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0
  return 0
}

/** RFC 9110 `tchar` (token characters), ASCII only. */
const TOKEN = new Uint8Array(128)
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN[c.charCodeAt(0)] = 1

export function isTokenChar (c: number): boolean {
  return c < 128 && TOKEN[c] === 1
}
