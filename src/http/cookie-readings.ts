import { canonicalCookieName, cookieValues } from './cookies.js'
import { aspnetCookies } from './readings/aspnet.js'
import { goCookies } from './readings/go.js'
import { jshttpCookie, jshttpCookie06 } from './readings/jshttp.js'
import { phpCookies, phpCookiesBefore7411 } from './readings/php.js'
import { djangoParseCookie, simpleCookieLoad, werkzeugParseCookie } from './readings/python.js'
import { rackCookies, rackCookiesBefore223 } from './readings/rack.js'
import { wsgiText, type CookiePair } from './readings/text.js'
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
}

export const COOKIE_READINGS: readonly CookieReading[] = [
  { id: 'django-wsgi', read: (h) => djangoParseCookie(wsgiText(h)) },
  { id: 'django-asgi', read: djangoParseCookie },
  { id: 'simplecookie-wsgi', read: (h) => simpleCookieLoad(wsgiText(h)) },
  { id: 'simplecookie-asgi', read: simpleCookieLoad },
  { id: 'werkzeug', read: (h) => werkzeugParseCookie(wsgiText(h)) },
  { id: 'php', read: phpCookies },
  { id: 'php-before-7.4.11', read: phpCookiesBefore7411 },
  { id: 'rack', read: rackCookies },
  { id: 'rack-before-2.2.3', read: rackCookiesBefore223 },
  { id: 'tomcat-10.1', read: tomcatRfc6265 },
  { id: 'tomcat-9', read: tomcat9Rfc6265 },
  { id: 'tomcat-9-legacy', read: tomcat9Legacy },
  { id: 'aspnetcore', read: aspnetCookies },
  { id: 'go', read: goCookies },
  { id: 'jshttp-cookie', read: jshttpCookie },
  { id: 'jshttp-cookie-0.6', read: jshttpCookie06 }
]

/**
 * A header every reading reads exactly as `cookieValues` does: pairs of a
 * token name without `$`, `%` or `+` (attribute names of RFC 2109; names old
 * PHP and Rack percent-decode) and a value of token characters without `$`,
 * separated by `; `. Percent escapes in values (express-session's `s%3A…`)
 * and `+` stay here: every reading that decodes them decodes them as the
 * gateway's hash does, or into a space no session id holds.
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
}

const NONE: string[] = []

/** Every value of the session cookie `name` some reading hands an app, the tracked ones apart. */
export function sessionCookieValues (header: string | undefined, name: string): SessionCookieValues {
  const tracked = cookieValues(header, name)
  if (header === undefined || isPlainCookieHeader(header)) return { tracked, others: NONE }
  return { tracked, others: otherReadingsValues(header, name, tracked) }
}

/** Values of the cookie `name` that some reading hands an app and `tracked` does not hold, each once. */
function otherReadingsValues (header: string, name: string, tracked: readonly string[]): string[] {
  const wanted = canonicalCookieName(name)
  const seen = new Set(tracked)
  const others: string[] = []
  for (const reading of COOKIE_READINGS) {
    for (const pair of reading.read(header)) {
      if (pair.value === '' || seen.has(pair.value) || canonicalCookieName(pair.name) !== wanted) continue
      seen.add(pair.value)
      others.push(pair.value)
    }
  }
  return others
}

/** Every value of the cookie `name` under any reading, the tracked one included. */
export function allSessionCookieValues (header: string, name: string): string[] {
  const { tracked, others } = sessionCookieValues(header, name)
  return others.length === 0 ? tracked : [...tracked, ...others]
}
