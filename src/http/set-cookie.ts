import type { SerializeOptions } from '@fastify/cookie'
import { parseCookieDate } from './cookie-date.js'

/** @fastify/cookie's serializer (`fastify.serializeCookie`), passed in once the plugin has loaded it. */
export type SerializeCookie = (name: string, value: string, opts?: SerializeOptions) => string

/** What the gateway needs of one `Set-Cookie` header of the app. */
export interface SetCookie {
  name: string
  /** As written, without URI decoding; `""` is unwrapped to the empty string. */
  value: string
  /**
   * The Path attribute (the last one), if it is a path (RFC 6265 §5.2.4);
   * undefined means the request's default path (§5.1.4), which only the
   * request can tell (see browser-cookies.ts).
   */
  path?: string
  /** The header had a Path attribute at all, valid or not (the `__Host-` rule asks). */
  pathAttribute: boolean
  /** The Domain attribute (the last non-empty one), lower-cased, without a leading dot (§5.2.3); undefined: a host-only cookie. */
  domain?: string
  secure: boolean
  httpOnly: boolean
  sameSite?: string
  partitioned: boolean
  /** `Max-Age` ≤ 0, or else an `Expires` not after `now`: a browser removes the cookie (§5.3 step 11-12). */
  expired: boolean
  /**
   * The header leaves no session: expired, or an empty value. (A browser
   * keeps an empty cookie, but for the gateway an empty session cookie is no
   * session: Django clears with `sessionid=""`.)
   */
  clears: boolean
}

/**
 * Parses one Set-Cookie header as a browser does (RFC 6265 §5.2, with
 * RFC 6265bis where browsers have moved on). Undefined for a header that
 * cannot concern a named cookie:
 * - no `=` before the first `;` (RFC 6265 §5.2 step 2: ignored), or an empty
 *   name. RFC 6265bis ("The Set-Cookie Header Field") stores these as
 *   *nameless* cookies instead, and current browsers do; either way such a
 *   cookie can neither set nor clear a cookie that has a name, such as the
 *   session cookie, so the gateway has nothing to learn from it. (A
 *   nameless cookie whose value holds `=`, from `Set-Cookie: =sid=v`, would
 *   be sent back as `sid=v`; no app means to write that, and it is not
 *   modelled.)
 * - a control character other than HTAB anywhere, or name and value longer
 *   than 4096 octets together: RFC 6265bis ignores the whole header, as
 *   current browsers do.
 */
export function parseSetCookie (header: string, now: number): SetCookie | undefined {
  if (CONTROL.test(header)) return undefined
  const parts = header.split(';')
  const first = parts[0] as string
  const eq = first.indexOf('=')
  if (eq === -1) return undefined
  const name = first.slice(0, eq).trim()
  if (name === '') return undefined
  let value = first.slice(eq + 1).trim()
  if (name.length + value.length > MAX_NAME_VALUE) return undefined
  if (value === '""') value = ''
  const c: SetCookie = { name, value, pathAttribute: false, secure: false, httpOnly: false, partitioned: false, expired: false, clears: false }
  // §5.2 step: the last of each attribute counts (§5.3 steps 3, 4, 6).
  let maxAge: number | undefined
  let expires: number | undefined
  for (let i = 1; i < parts.length; i++) {
    const attr = parts[i] as string
    const aeq = attr.indexOf('=')
    const key = (aeq === -1 ? attr : attr.slice(0, aeq)).trim().toLowerCase()
    const val = aeq === -1 ? '' : attr.slice(aeq + 1).trim()
    // RFC 6265bis: an attribute value over 1024 octets is ignored.
    if (val.length > MAX_ATTRIBUTE_VALUE) continue
    switch (key) {
      // §5.2.4: a value that is not a path means the default path, and still overrides an earlier Path.
      case 'path': c.pathAttribute = true; c.path = val.startsWith('/') ? val : undefined; break
      // §5.2.3: an empty Domain is ignored (an earlier one stays); one leading dot is dropped.
      case 'domain': if (val !== '') c.domain = (val.startsWith('.') ? val.slice(1) : val).toLowerCase(); break
      case 'secure': c.secure = true; break
      case 'httponly': c.httpOnly = true; break
      case 'samesite': c.sameSite = val; break
      case 'partitioned': c.partitioned = true; break
      case 'max-age': maxAge = parseMaxAge(val) ?? maxAge; break
      case 'expires': expires = parseCookieDate(val) ?? expires; break
    }
  }
  // §5.3 step 3: Max-Age wins over Expires, wherever each stands.
  c.expired = maxAge !== undefined ? maxAge <= 0 : expires !== undefined && expires <= now
  c.clears = c.expired || value === ''
  return c
}

/** §5.2.2: a leading `-` or a digit, then digits only; anything else is ignored. Only its sign matters here. */
function parseMaxAge (val: string): number | undefined {
  return /^-?[0-9]+$/.test(val) ? Number(val) : undefined
}

// RFC 6265bis: CTLs but HTAB make a browser ignore the header.
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/
const MAX_NAME_VALUE = 4096
const MAX_ATTRIBUTE_VALUE = 1024

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
