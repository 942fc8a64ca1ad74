import { phpQuery } from './readings/php.js'

/**
 * Reading the session cookie from a request.
 *
 * Not through a cookie parser that returns one value per name: a request may
 * carry the same name several times (a cookie set for `/` and another for
 * `/app`, or a forged duplicate), and an app may read either the first or the
 * last. The gateway judges every value.
 *
 * Names are compared the way the most lenient framework reads them (see
 * `canonicalCookieName`): a client that spelled the name differently would
 * otherwise slip an ended session past the gateway to an app that reads it
 * anyway. Matching too many names can only refuse more.
 */

/**
 * ASP.NET reads cookie names case-insensitively; PHP turns `.`, space and `[`
 * in a name into `_` (so `laravel.session` reaches Laravel as `laravel_session`).
 */
export function canonicalCookieName (name: string): string {
  return name.trim().toLowerCase().replace(/[. []/g, '_')
}

/** Every value the request carries under the session cookie's name, as written. */
export function cookieValues (header: string | undefined, name: string): string[] {
  if (header === undefined || header === '') return []
  const wanted = canonicalCookieName(name)
  const values: string[] = []
  let start = 0
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < end && canonicalCookieName(header.slice(start, eq)) === wanted) {
      const value = header.slice(eq + 1, end).trim()
      if (value !== '' && value !== '""') values.push(value)
    }
    start = end + 1
  }
  return values
}

/**
 * Session ids carried in the URL instead of a cookie: a `;jsessionid=…` path
 * parameter (servlet containers accept it by default) or a query parameter
 * of the cookie's name (PHP with `use_only_cookies` off). They are only ever
 * checked against ended sessions, never tracked.
 *
 * PHP reads the query its own way (`phpQuery`): names are percent-decoded,
 * `+` is a space and leading spaces go (`?%73essionid=`, `?+sessionid=`),
 * and a value runs to the next `&` (`/`, `?` and `;` included). That reading
 * is added when the query holds a character it reads differently.
 */
export function urlSessionValues (url: string, name: string): string[] {
  if (!url.includes(';') && !url.includes('?')) return []
  const wanted = canonicalCookieName(name)
  const values: string[] = []
  for (const m of url.matchAll(URL_PARAMETER)) {
    if (canonicalCookieName(m[2] as string) === wanted && m[3] !== '') values.push(m[3] as string)
  }
  const query = queryOf(url)
  if (query !== undefined && PHP_READS_OTHERWISE.test(query)) {
    for (const pair of phpQuery(query)) {
      if (pair.value !== '' && canonicalCookieName(pair.name) === wanted && !values.includes(pair.value)) values.push(pair.value)
    }
  }
  return values
}

// `;name=value` in the path, `?name=value` and `&name=value` in the query.
const URL_PARAMETER = /([;?&])([^=;?&#/]+)=([^;?&#/]*)/g
// Characters PHP reads differently from URL_PARAMETER: escapes and `+` in names, `/ ? ;` inside values.
const PHP_READS_OTHERWISE = /[%+/?;]/

function queryOf (url: string): string | undefined {
  const q = url.indexOf('?')
  if (q === -1) return undefined
  const hash = url.indexOf('#', q)
  return url.slice(q + 1, hash === -1 ? undefined : hash)
}

/**
 * The URL with every session id `urlSessionValues` finds masked, for logs:
 * `/x;jsessionid=abc?%73essionid=def` → `/x;jsessionid=[redacted]?%73essionid=[redacted]`.
 */
export function redactUrlSessionIds (url: string, name: string): string {
  const wanted = canonicalCookieName(name)
  const masked = url.replace(URL_PARAMETER, (all, sep: string, param: string) =>
    canonicalCookieName(param) === wanted ? `${sep}${param}=[redacted]` : all)
  const query = queryOf(masked)
  if (query === undefined || !PHP_READS_OTHERWISE.test(query)) return masked
  const q = masked.indexOf('?')
  const redacted = query.split('&').map((piece) => {
    const eq = piece.indexOf('=')
    if (eq === -1) return piece
    const pair = phpQuery(piece)[0]
    return pair !== undefined && canonicalCookieName(pair.name) === wanted ? `${piece.slice(0, eq)}=[redacted]` : piece
  }).join('&')
  return masked.slice(0, q + 1) + redacted + masked.slice(q + 1 + query.length)
}

/**
 * A Cookie header with the cookie `name` carrying only this value, where it
 * was (added at the end if absent); everything else as it came. An app reads
 * the first or the last of duplicates: asked about (or logging out) one
 * session, it must not see another beside it.
 */
export function withOnlyValue (header: string, name: string, value: string): string {
  const wanted = canonicalCookieName(name)
  let kept = false
  const pairs: string[] = []
  for (const part of header.split(';')) {
    const pair = part.trim()
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (eq !== -1 && canonicalCookieName(pair.slice(0, eq)) === wanted) {
      if (kept || pair.slice(eq + 1).trim() !== value) continue
      kept = true
    }
    pairs.push(pair)
  }
  if (!kept) pairs.push(`${name}=${value}`)
  return pairs.join('; ')
}
