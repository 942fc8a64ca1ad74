import { clearingSetCookie, type CookieScope, type SerializeCookie, type SetCookie } from '../http/set-cookie.js'

const UNKNOWN_SCOPE: CookieScope = { secure: false, httpOnly: true, partitioned: false }

/**
 * The Path, Domain and flags with which the app sets each cookie the gateway
 * may have to clear. A browser deletes a cookie only if the deleting header
 * names the same Path and Domain, so they are learned from the app's own
 * Set-Cookie headers as they pass by. Only the session cookie and the
 * `alsoClear` names are kept: a handful of entries, never per session.
 */
export class CookieScopes {
  readonly #names: ReadonlySet<string>
  readonly #scopes = new Map<string, CookieScope>()

  readonly #serialize: SerializeCookie

  constructor (names: readonly string[], serialize: SerializeCookie) {
    this.#names = new Set(names)
    this.#serialize = serialize
  }

  watches (name: string): boolean {
    return this.#names.has(name)
  }

  learn (c: SetCookie): void {
    if (!this.#names.has(c.name) || c.clears) return
    this.#scopes.set(c.name, { path: c.path, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite, partitioned: c.partitioned })
  }

  /**
   * Set-Cookie headers that remove every watched cookie, with the scope the app
   * used. When that scope is not `Path=/` without a Domain (or is not known yet,
   * e.g. just after a restart), a `Path=/` host-only removal is added as well:
   * a removal that matches no cookie is harmless, one that misses is not.
   *
   * `secure`: the client reached the gateway over HTTPS (`overHttps`), so
   * the gateway's own cookies carry `Secure` there, as a site served over
   * HTTPS should, whatever flags the app used. (Over plain HTTP they do not:
   * a browser ignores a `Secure` cookie set from an insecure page, RFC 6265bis
   * "Storage Model", and the removal would be lost.)
   */
  clearAll (secure: boolean): string[] {
    const out: string[] = []
    for (const name of this.#names) {
      const learned = this.#scopes.get(name)
      // Not learned yet: what clearingSetCookie assumes then (Path=/, host-only, HttpOnly), with Secure.
      const scope = secure ? { ...(learned ?? UNKNOWN_SCOPE), secure: true } : learned
      out.push(clearingSetCookie(this.#serialize, name, scope))
      if (scope !== undefined && ((scope.path ?? '/') !== '/' || scope.domain !== undefined)) {
        out.push(clearingSetCookie(this.#serialize, name, { ...scope, path: '/', domain: undefined }))
      }
    }
    return out
  }
}
