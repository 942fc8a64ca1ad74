import type { SetCookie } from './set-cookie.js'

/** What a browser's cookie store knows of the request an answer came to. */
export interface CookieRequest {
  /** The host the browser asked (lower case, no port); '' when unknown. */
  host: string
  /** The request's path as sent (no query): the default Path of cookies without one. */
  path: string
}

/** Where one Set-Cookie header lands in a browser's cookie store (RFC 6265 §5.3), or why the browser drops it. */
export type StoreStep = IgnoredCookie | StoredCookie

export interface IgnoredCookie {
  kind: 'ignored'
  cookie: SetCookie
  why: 'domain' | 'prefix'
}

export interface StoredCookie {
  kind: 'stored'
  cookie: SetCookie
  /** Name, domain and path: a later header with the same key replaces this one (or removes it, if expired). */
  key: string
  /** The path it is stored under: the Path attribute, else the default path. */
  path: string
}

/**
 * The cookies one answer leaves in a browser's store, applying its
 * Set-Cookie headers in order (only those the caller passes: the gateway
 * passes the names it watches). A later header with the same key replaces an
 * earlier one, an expired one removes it, and headers the browser ignores
 * change nothing.
 */
export class BrowserCookieJar {
  readonly #stored = new Map<string, StoredCookie>()

  readonly request: CookieRequest

  constructor (request: CookieRequest) {
    this.request = request
  }

  apply (cookie: SetCookie): StoreStep {
    const step = storeStep(cookie, this.request)
    if (step.kind === 'stored') {
      // Deleted first, so the Map's order is the order each was last set.
      this.#stored.delete(step.key)
      if (!cookie.expired) this.#stored.set(step.key, step)
    }
    return step
  }

  /** The cookies held now, oldest set first. */
  stored (): IterableIterator<StoredCookie> {
    return this.#stored.values()
  }
}

/**
 * Where one header lands in a browser's cookie store, or why the browser
 * drops it. Headers of one answer are applied in order (§5.3 runs per
 * header): a later one with the same key replaces, or removes, an earlier
 * one.
 *
 * - The key is name, domain and path (§5.3 step 11). A host-only cookie and
 *   a `Domain` cookie for the same host are two cookies: RFC 6265 compares
 *   only the domain strings, but browsers keep a Domain cookie's domain with
 *   its leading dot (Chromium, Firefox) and so keep both, and this follows
 *   them.
 * - Path: the attribute, else the default path of the request (§5.1.4).
 * - A Domain that the request host does not domain-match (§5.1.3) makes the
 *   browser ignore the header (§5.3 step 6). An unknown host (no Host
 *   header) cannot be checked: the Domain is taken as given. The public
 *   suffix list (§5.3 step 5) is not modelled: an app does not set its
 *   session cookie for `.com`.
 * - RFC 6265bis cookie prefixes ("Storage Model"): a `__Secure-` cookie
 *   without `Secure`, and a `__Host-` cookie without `Secure`, with a
 *   Domain, or without `Path=/`, are ignored by every browser. Only the
 *   exact spelling is checked: later drafts match the prefix in any case,
 *   but not every browser does yet, and a cookie some browsers keep must
 *   not be taken for one none keeps.
 * - Not modelled, on purpose: the scheme. Browsers refuse a `Secure` cookie
 *   (and a prefixed one) from a plain-http page, and a non-secure one that
 *   would shadow a `Secure` cookie (6265bis); but TLS often ends before the
 *   gateway, which then cannot tell what the browser saw.
 */
export function storeStep (cookie: SetCookie, request: CookieRequest): StoreStep {
  if (cookie.domain !== undefined && request.host !== '' && !domainMatches(request.host, cookie.domain)) {
    return { kind: 'ignored', cookie, why: 'domain' }
  }
  const path = cookie.path ?? defaultPath(request.path)
  if (cookie.name.startsWith('__Secure-') && !cookie.secure) return { kind: 'ignored', cookie, why: 'prefix' }
  if (cookie.name.startsWith('__Host-') && (!cookie.secure || cookie.domain !== undefined || !cookie.pathAttribute || path !== '/')) {
    return { kind: 'ignored', cookie, why: 'prefix' }
  }
  // A leading dot marks a Domain cookie's domain, as browsers store it; a host-only cookie's is the request's host.
  const domain = cookie.domain === undefined ? request.host : `.${cookie.domain}`
  return { kind: 'stored', cookie, key: `${cookie.name}\n${domain}\n${path}`, path }
}

/** §5.1.3: the host is the domain, or a name under it (never an IP address under it). */
export function domainMatches (host: string, domain: string): boolean {
  if (host === domain) return true
  return host.endsWith(domain) && host.charCodeAt(host.length - domain.length - 1) === 0x2e && !isIpAddress(host)
}

function isIpAddress (host: string): boolean {
  return host.startsWith('[') || host.includes(':') || /^[0-9.]+$/.test(host)
}

/** §5.1.4: the request path up to, not including, its last `/`; `/` when that leaves nothing. */
export function defaultPath (requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/'
  const last = requestPath.lastIndexOf('/')
  return last <= 0 ? '/' : requestPath.slice(0, last)
}
