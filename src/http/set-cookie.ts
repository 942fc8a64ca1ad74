import type { SerializeOptions } from '@fastify/cookie'

/** @fastify/cookie's serializer (`fastify.serializeCookie`), passed in once the plugin has loaded it. */
export type SerializeCookie = (name: string, value: string, opts?: SerializeOptions) => string

/** What the gateway needs of one `Set-Cookie` header of the app. */
export interface SetCookie {
  name: string
  /** As written, without URI decoding; `""` is unwrapped to the empty string. */
  value: string
  path?: string
  domain?: string
  secure: boolean
  httpOnly: boolean
  sameSite?: string
  partitioned: boolean
  /** The header removes the cookie: empty value, `Max-Age` ≤ 0 or an `Expires` in the past. */
  clears: boolean
}

/** Parses one Set-Cookie header (RFC 6265 §5.2, leniently, as browsers do). */
export function parseSetCookie (header: string, now: number): SetCookie | undefined {
  const parts = header.split(';')
  const first = parts[0] as string
  const eq = first.indexOf('=')
  if (eq === -1) return undefined
  const name = first.slice(0, eq).trim()
  if (name === '') return undefined
  let value = first.slice(eq + 1).trim()
  if (value === '""') value = ''
  const c: SetCookie = { name, value, secure: false, httpOnly: false, partitioned: false, clears: value === '' }
  // RFC 6265 §5.3 step 3: a Max-Age anywhere wins over Expires; the last of each counts.
  let maxAge: string | undefined
  let expires: string | undefined
  for (let i = 1; i < parts.length; i++) {
    const attr = parts[i] as string
    const aeq = attr.indexOf('=')
    const key = (aeq === -1 ? attr : attr.slice(0, aeq)).trim().toLowerCase()
    const val = aeq === -1 ? '' : attr.slice(aeq + 1).trim()
    switch (key) {
      case 'path': if (val.startsWith('/')) c.path = val; break
      case 'domain': if (val !== '') c.domain = val; break
      case 'secure': c.secure = true; break
      case 'httponly': c.httpOnly = true; break
      case 'samesite': c.sameSite = val; break
      case 'partitioned': c.partitioned = true; break
      case 'max-age': if (/^-?[0-9]+$/.test(val)) maxAge = val; break
      case 'expires': expires = val; break
    }
  }
  if (maxAge !== undefined) {
    if (Number(maxAge) <= 0) c.clears = true
  } else if (expires !== undefined) {
    const t = Date.parse(expires)
    if (!Number.isNaN(t) && t <= now) c.clears = true
  }
  return c
}

/** The name of a Set-Cookie header without parsing it all (the hot path looks at every response). */
export function setCookieName (header: string): string {
  const eq = header.indexOf('=')
  return (eq === -1 ? header : header.slice(0, eq)).trim()
}

export type CookieScope = Pick<SetCookie, 'path' | 'domain' | 'secure' | 'httpOnly' | 'sameSite' | 'partitioned'>

/**
 * A Set-Cookie that removes a cookie. A browser only removes a cookie when
 * name, Path and Domain match the ones it was set with, so the caller passes
 * the scope the app used. `__Secure-`/`__Host-` cookies (RFC 6265bis §4.1.3)
 * are only accepted with `Secure`, so that is kept too.
 */
export function clearingSetCookie (serialize: SerializeCookie, name: string, scope: CookieScope | undefined): string {
  const secure = scope?.secure === true || name.startsWith('__Secure-') || name.startsWith('__Host-')
  const sameSite = normalizeSameSite(scope?.sameSite)
  return serialize(name, '', {
    path: scope?.path ?? '/',
    // __Host- cookies must not carry a Domain.
    domain: name.startsWith('__Host-') ? undefined : scope?.domain,
    expires: new Date(0),
    maxAge: 0,
    secure,
    httpOnly: scope?.httpOnly ?? true,
    sameSite,
    partitioned: scope?.partitioned === true ? true : undefined
  })
}

function normalizeSameSite (v: string | undefined): 'lax' | 'strict' | 'none' | undefined {
  const s = v?.toLowerCase()
  return s === 'lax' || s === 'strict' || s === 'none' ? s : undefined
}
