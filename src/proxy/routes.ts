import type { LoginRouteConfig, LogoutRouteConfig } from '../config/schema.js'
import { normalizePath } from '../http/path.js'
import { createIdentityStrategy, type AskApp, type IdentityStrategy } from '../identity/index.js'

export interface LoginRoute {
  readonly config: LoginRouteConfig
  readonly identity: IdentityStrategy
  readonly group: IdentityStrategy | undefined
  /** Did the app's answer (status, Location) log the user in, given it also set a new session cookie? */
  accepts (status: number, location: string | undefined): boolean
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
 * A redirect to `failureRedirect` is a failed login, whatever the status:
 * frameworks that redirect both ways (Spring Security, Laravel, passport) may
 * also start a new session on failure, and counting it would let anyone put
 * a login in someone else's name (and end their sessions) by failing one.
 * The path must match exactly (only the query is ignored): a successful login
 * whose redirect a client can steer (`?next=`) must not pass for a failure
 * by a re-spelling such as `/LOGIN` or `/login.json`.
 */
function loginRule (config: LoginRouteConfig): LoginRoute['accepts'] {
  const status = statusRule(config.status)
  const failure = config.failureRedirect === undefined ? undefined : new URL(config.failureRedirect, 'http://gateway.invalid').pathname
  return (code, location) => {
    if (!status(code)) return false
    if (failure === undefined || location === undefined || code < 300 || code > 399) return true
    let target: string
    try {
      target = new URL(location, 'http://gateway.invalid').pathname
    } catch {
      return true
    }
    return target !== failure
  }
}

/**
 * The login and logout routes, looked up by method and normalised path
 * (see `normalizePath` for why matching errs on the generous side).
 */
export class RouteTable {
  readonly #login = new Map<string, LoginRoute>()
  readonly #loginPaths = new Set<string>()
  readonly #logout = new Map<string, LogoutRoute[]>()

  constructor (login: readonly LoginRouteConfig[], logout: readonly LogoutRouteConfig[], ask: AskApp) {
    for (const config of login) {
      const path = normalizePath(config.path)
      this.#loginPaths.add(path)
      this.#login.set(`${config.method} ${path}`, {
        config,
        identity: createIdentityStrategy(config.user, ask),
        group: config.group === undefined ? undefined : createIdentityStrategy(config.group, ask),
        accepts: loginRule(config)
      })
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
