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

/** The `Cookie` header without the given values (as written) of the session cookie; undefined when nothing is left. */
export function withoutCookieValues (header: string, name: string, drop: ReadonlySet<string>): string | undefined {
  const wanted = canonicalCookieName(name)
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=')
    if (eq === -1) return pair.trim() !== ''
    return !(canonicalCookieName(pair.slice(0, eq)) === wanted && drop.has(pair.slice(eq + 1).trim()))
  }).map((p) => p.trim())
  return kept.length === 0 ? undefined : kept.join('; ')
}

/**
 * Session ids carried in the URL instead of a cookie: a `;jsessionid=…` path
 * parameter (servlet containers accept it by default) or a query parameter
 * of the cookie's name (PHP with `use_only_cookies` off). They are only ever
 * checked against ended sessions, never tracked.
 */
export function urlSessionValues (url: string, name: string): string[] {
  const wanted = canonicalCookieName(name)
  if (!url.includes(';') && !url.includes('?')) return []
  const values: string[] = []
  const re = /[;?&]([^=;?&#/]+)=([^;?&#/]*)/g
  for (const m of url.matchAll(re)) {
    if (canonicalCookieName(m[1] as string) === wanted && m[2] !== '') values.push(m[2] as string)
  }
  return values
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
