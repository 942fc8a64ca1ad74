import fc from 'fast-check'

/**
 * Cookie headers an attacker would send, as bytes Node's HTTP parser accepts
 * in a header value (HTAB, 0x20-0x7E, obs-text 0x80-0xFF; no other control
 * bytes) and that arrive as sent (no white space at either end: every HTTP
 * parser strips it). Built from the pieces the frameworks disagree on:
 * separators (`;`, `,`, white space), quotes, backslash escapes, `$`
 * attributes, percent-encoded and `+` names, Unicode white space as UTF-8
 * and as raw bytes, duplicates.
 */

const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')

/** White space some reading strips: ASCII, UTF-8 encodings of Unicode spaces, raw Latin-1 bytes. */
const SPACES = [' ', '\t', utf8('\u2000'), utf8('\u3000'), utf8('\u00a0'), utf8('\u0085'), utf8('\u2028'), utf8('\u2029'), utf8('\u202f'), utf8('\ufeff'), '\x85', '\xa0', '\xa0\x85']
const SEPARATORS = ['; ', ';', ', ', ',', ' ', ';;', '; ,', '\t;']
const JUNK = ['"', '\\', '$', '=', '%', '+', '[', ']', '(', ':', '@', '/', '?', '{', '\x80', '\xff', '\xe3\x80', '%zz', '%2', '\\"']

/** A session cookie name as some framework still reads it. */
function sessionNames (name: string): string[] {
  const hex = (c: string): string => `%${c.charCodeAt(0).toString(16)}`
  return [
    name, name, name, name.toUpperCase(), `${hex(name[0] as string)}${name.slice(1)}`, `${name.slice(0, 3)}${hex(name[3] as string)}${name.slice(4)}`,
    `+${name}`, `%20${name}`, `$${name}`, `x${name}`
  ]
}

/** A value as a framework may read it back to `value`. */
function spellings (value: string): Array<fc.Arbitrary<string>> {
  const octal = `\\${(value.charCodeAt(0)).toString(8).padStart(3, '0')}${value.slice(1)}`
  return [
    fc.constant(value), fc.constant(value), fc.constant(`"${value}"`), fc.constant(`"${value}`), fc.constant(`"${value}x`),
    fc.constant(`%${value.charCodeAt(0).toString(16)}${value.slice(1)}`), fc.constant(`"${octal}"`), fc.constant(`"\\${value}"`),
    fc.constant(`${value}=`), fc.constant(`${value}:x`), fc.constant(`${value}"`), fc.constant(`${value}\\`),
    fc.tuple(fc.constantFrom(...SPACES), fc.constantFrom(...SPACES)).map(([a, b]) => `${a}${value}${b}`)
  ]
}

/**
 * A header of up to `maxPieces` pieces; pairs of the session cookie carry
 * one of `values` in some spelling, other pairs carry junk.
 */
export function hostileCookieHeader (name: string, values: readonly string[], maxPieces = 6): fc.Arbitrary<string> {
  const space = fc.oneof({ weight: 4, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom(...SPACES) })
  const sessionPair = fc.tuple(space, fc.constantFrom(...sessionNames(name)), space, fc.constantFrom('=', '=', ' =', '= '), space,
    fc.oneof(...values.flatMap(spellings)), space)
    .map((parts) => parts.join(''))
  const otherPair = fc.tuple(fc.constantFrom('theme', 'a', 'csrftoken', '$Version', '$Path', 'path', 'lang', ''), fc.constantFrom('=', '', '= '),
    fc.stringMatching(/^[A-Za-z0-9._\-/=%]{0,6}$/), fc.constantFrom('', '', ...JUNK))
    .map((parts) => parts.join(''))
  const piece = fc.oneof({ weight: 3, arbitrary: sessionPair }, { weight: 2, arbitrary: otherPair }, { weight: 1, arbitrary: fc.constantFrom(...JUNK) })
  const header = fc.tuple(
    fc.constantFrom('', '', '', '$Version=1, ', '$Version=1; ', '$Version="1"; '),
    fc.array(fc.tuple(piece, fc.constantFrom(...SEPARATORS)), { minLength: 1, maxLength: maxPieces })
  ).map(([prefix, pieces]) => prefix + pieces.map(([p, sep], i) => i === pieces.length - 1 ? p : p + sep).join(''))
  return header.map(trimOws).filter((h) => h !== '')
}

/** Without the SP and HTAB at either end that every HTTP parser strips from a field value. */
export function trimOws (header: string): string {
  return header.replace(/^[ \t]+|[ \t]+$/g, '')
}

/** Query strings for `$_GET`: names as PHP decodes them, values up to `&`. */
export function hostileQuery (name: string, values: readonly string[]): fc.Arbitrary<string> {
  const names = [name, `%${name.charCodeAt(0).toString(16)}${name.slice(1)}`, `+${name}`, `%20${name}`, `${name.slice(0, 4)}%${name.charCodeAt(4).toString(16)}${name.slice(5)}`, `${name}.`, 'x']
  const value = fc.oneof(...values.map((v) => fc.constant(v)), ...values.map((v) => fc.constant(`${v}/x`)), fc.constantFrom('', '%41', '+a', 'a;b', 'a?b'))
  const param = fc.tuple(fc.constantFrom(...names), fc.constantFrom('=', '=', ''), value).map((p) => p.join(''))
  return fc.array(param, { minLength: 1, maxLength: 4 }).map((ps) => ps.join('&'))
}
