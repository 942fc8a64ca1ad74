import type { LoginRouteConfig, LogoutRouteConfig } from '../config/schema.js'
import { normalizePath } from '../http/path.js'
import { createIdentityStrategy, type IdentityStrategy } from '../identity/index.js'

export interface LoginRoute {
  readonly config: LoginRouteConfig
  readonly identity: IdentityStrategy
  /** Did the app's answer with this status log the user in (given it also set a new session cookie)? */
  accepts (status: number): boolean
}

export interface LogoutRoute {
  readonly config: LogoutRouteConfig
  accepts (status: number): boolean
}

/** Without a `status` list, any answer below 400 counts as success (a failed login re-renders its form or answers 4xx). */
function statusRule (list: readonly number[] | undefined): (status: number) => boolean {
  if (list === undefined) return (status) => status < 400
  const set = new Set(list)
  return (status) => set.has(status)
}

/**
 * The login and logout routes, looked up by method and normalised path
 * (see `normalizePath` for why matching errs on the generous side).
 */
export class RouteTable {
  readonly #login = new Map<string, LoginRoute>()
  readonly #loginPaths = new Set<string>()
  readonly #logout = new Map<string, LogoutRoute[]>()

  constructor (login: readonly LoginRouteConfig[], logout: readonly LogoutRouteConfig[]) {
    for (const config of login) {
      const path = normalizePath(config.path)
      this.#loginPaths.add(path)
      this.#login.set(`${config.method} ${path}`, { config, identity: createIdentityStrategy(config.user), accepts: statusRule(config.status) })
    }
    for (const config of logout) {
      const path = normalizePath(config.path)
      const routes = this.#logout.get(path) ?? []
      routes.push({ config, accepts: statusRule(config.status) })
      this.#logout.set(path, routes)
    }
  }

  login (method: string, path: string): LoginRoute | undefined {
    return this.#login.get(`${method} ${path}`)
  }

  /** Any method on a login route's path: where a browser with an ended cookie must still be able to sign in. */
  isLoginPath (path: string): boolean {
    return this.#loginPaths.has(path)
  }

  logout (method: string, path: string): LogoutRoute | undefined {
    return this.#logout.get(path)?.find((r) => r.config.method === undefined || r.config.method === method)
  }
}
