import { canonicalCookieName, cookieValues } from './cookies.js'
import { aspnetCookies } from './readings/aspnet.js'
import { goCookies } from './readings/go.js'
import { jshttpCookie, jshttpCookie06 } from './readings/jshttp.js'
import { phpCookies, phpCookiesBefore7411 } from './readings/php.js'
import { djangoParseCookie, simpleCookieLoad, werkzeugParseCookie } from './readings/python.js'
import { rackCookies, rackCookiesBefore223 } from './readings/rack.js'
import { phpUrlDecode, wsgiText, type CookiePair } from './readings/text.js'
import { tomcat9Legacy, tomcat9Rfc6265, tomcatRfc6265 } from './readings/tomcat.js'

/**
 * The Cookie header as every mainstream framework reads it.
 *
 * The gateway tracks sessions by one reading (`cookieValues`), but the app
 * behind it reads the header its own way: a client that re-spells an ended
 * cookie so that the gateway's reading misses it while the app's finds it
 * (a Unicode space Django strips, a quote Tomcat never sees closed, a comma
 * ASP.NET splits at) would bring the ended session back. So every value any
 * of these readings hands an app is judged. Each reading, its framework and
 * the source it follows are in docs/cookie-readings.md.
 *
 * A header as browsers send it (token names, `; ` between pairs, values of
 * token characters: see `isPlainCookieHeader`) reads alike in all of them,
 * and costs one regular-expression test more than the tracked reading.
 */

export interface CookieReading {
  /** A short name for logs and tests. */
  id: string
  read: (header: string) => CookiePair[]
  /**
   * Reads each `;`-separated piece on its own (no quoted value, `$Version`
   * or invalid pair reaches across a `;`): the pieces that cannot name the
   * session cookie can be left out without changing what it reads for it.
   */
  local: boolean
}

export const COOKIE_READINGS: readonly CookieReading[] = [
  { id: 'django-wsgi', read: (h) => djangoParseCookie(wsgiText(h)), local: true },
  { id: 'django-asgi', read: djangoParseCookie, local: true },
  { id: 'simplecookie-wsgi', read: (h) => simpleCookieLoad(wsgiText(h)), local: false },
  { id: 'simplecookie-asgi', read: simpleCookieLoad, local: false },
  { id: 'werkzeug', read: (h) => werkzeugParseCookie(wsgiText(h)), local: false },
  { id: 'php', read: phpCookies, local: true },
  { id: 'php-before-7.4.11', read: phpCookiesBefore7411, local: true },
  { id: 'rack', read: rackCookies, local: true },
  { id: 'rack-before-2.2.3', read: rackCookiesBefore223, local: true },
  { id: 'tomcat-10.1', read: tomcatRfc6265, local: true },
  { id: 'tomcat-9', read: tomcat9Rfc6265, local: false },
  { id: 'tomcat-9-legacy', read: tomcat9Legacy, local: false },
  { id: 'aspnetcore', read: aspnetCookies, local: true },
  { id: 'go', read: goCookies, local: true },
  { id: 'jshttp-cookie', read: jshttpCookie, local: true },
  { id: 'jshttp-cookie-0.6', read: jshttpCookie06, local: true }
]

/**
 * A header every reading reads exactly as `cookieValues` does: pairs of a
 * token name without `$`, `%` or `+` (attribute names of RFC 2109; names old
 * PHP and Rack percent-decode) and a value of token characters without `$`,
 * separated by `; `. Percent escapes in values (express-session's `s%3A…`)
 * and `+` stay here: where a reading decodes them differently from the
 * gateway's hash, the result holds a space, a byte above 0x7F or a `%`,
 * which no session id does (apps draw ids from plain alphabets; checked in
 * test/cookie-readings.test.ts).
 */
const PLAIN_COOKIE_HEADER = /^[A-Za-z0-9!#&'*.^_`|~-]+=[A-Za-z0-9!#%&'*+.^_`|~-]*(?:; [A-Za-z0-9!#&'*.^_`|~-]+=[A-Za-z0-9!#%&'*+.^_`|~-]*)*$/

export function isPlainCookieHeader (header: string): boolean {
  return PLAIN_COOKIE_HEADER.test(header)
}

export interface SessionCookieValues {
  /** The gateway's own reading (`cookieValues`): these are tracked, revived and adopted. */
  tracked: string[]
  /** Values only other readings hand an app: checked against ended sessions, never tracked. */
  others: string[]
  /**
   * More pieces of the header may name the session cookie than a browser
   * ever sends (MAX_NAMING_PIECES): the readings were not run.
   */
  tooMany: boolean
}

/**
 * The most `;`-separated pieces that may name the session cookie (in any
 * spelling) for which the readings are run; a browser sends one or two.
 * With it, a long hostile header costs the readings of a few pieces, plus
 * the few readings that need the whole header.
 */
export const MAX_NAMING_PIECES = 32

const NONE: string[] = []

/** Every value of the session cookie `name` some reading hands an app, the tracked ones apart. */
export function sessionCookieValues (header: string | undefined, name: string): SessionCookieValues {
  const tracked = cookieValues(header, name)
  if (header === undefined || isPlainCookieHeader(header)) return { tracked, others: NONE, tooMany: false }
  return otherReadingsValues(header, name, tracked)
}

/**
 * Whether some reading could find a cookie named `wanted` (canonical) in
 * this piece of the header. Every reading takes a name from within one
 * `;`-separated piece, as written, or percent-decoded (`+` a space: old PHP
 * and Rack), or UTF-8-decoded (WSGI), then trimmed; names are compared
 * lowercased with ` .[` as `_`. So the piece, decoded both ways and
 * lowercased the same way, holds the name wherever a reading may find it.
 */
function mayNameSession (piece: string, wanted: string): boolean {
  const loose = (text: string): string => phpUrlDecode(text, true).toLowerCase().replace(/[. []/g, '_')
  if (loose(piece).includes(wanted)) return true
  const text = wsgiText(piece)
  return text !== piece && loose(text).includes(wanted)
}

/** Values of the cookie `name` that some reading hands an app and `tracked` does not hold, each once. */
function otherReadingsValues (header: string, name: string, tracked: string[]): SessionCookieValues {
  const wanted = canonicalCookieName(name)
  const naming = header.split(';').filter((piece) => mayNameSession(piece, wanted))
  if (naming.length === 0) return { tracked, others: NONE, tooMany: false }
  if (naming.length > MAX_NAMING_PIECES) return { tracked, others: NONE, tooMany: true }
  // The leading `;` keeps the first piece kept read as a piece after a `;` (Rack eats the spaces after one).
  // (Joined, not concatenated: a flat string, which V8 reads faster than a cons string.)
  const narrowed = ['', ...naming].join(';')
  const seen = new Set(tracked)
  const others: string[] = []
  for (const reading of COOKIE_READINGS) {
    for (const pair of reading.read(reading.local ? narrowed : header)) {
      // A name shorter than the wanted one never canonicalises to it (trimming
      // and ` .[` → `_` keep or shrink the length; lowercase never shrinks it):
      // most names are rejected without building their canonical form.
      if (pair.value === '' || pair.name.length < wanted.length || canonicalCookieName(pair.name) !== wanted || seen.has(pair.value)) continue
      seen.add(pair.value)
      others.push(pair.value)
    }
  }
  return { tracked, others, tooMany: false }
}

/**
 * Every value of the cookie `name` under any reading, the tracked one
 * included; undefined when the header has too many pieces naming it to be
 * read (`tooMany`).
 */
export function allSessionCookieValues (header: string, name: string): string[] | undefined {
  const { tracked, others, tooMany } = sessionCookieValues(header, name)
  if (tooMany) return undefined
  return others.length === 0 ? tracked : [...tracked, ...others]
}
