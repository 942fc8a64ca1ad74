import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config/schema.js'
import type { LimitFor } from '../domain/limits.js'
import type { SessionId } from '../domain/session.js'
import type { SessionHasher } from '../http/session-hash.js'
import type { SessionStore } from '../store/store.js'
import type { CookieScopes } from './cookie-scopes.js'
import type { LoginRoute, LogoutRoute, RouteTable } from './routes.js'

/** Everything the hooks share, built once per gateway. */
export interface GatewayContext {
  readonly config: Config
  readonly store: SessionStore
  readonly hash: SessionHasher
  readonly limitFor: LimitFor
  readonly routes: RouteTable
  readonly scopes: CookieScopes
  readonly now: () => number
  readonly log: FastifyBaseLogger
}

/** What the request hooks learned, for the proxying and the response hooks. */
export interface RequestState {
  /** Tracked live sessions the request carried. */
  carried: SessionId[]
  login: LoginRoute | undefined
  logout: LogoutRoute | undefined
  /** The user a login request names, once read. */
  user: string | undefined
  /** Cookie values of ended sessions to remove before forwarding (on login routes' paths only). */
  strip: Set<string> | undefined
  /** The gateway answered this request itself; the response watcher leaves it alone. */
  answered: boolean
}

/** Short form of a session id for logs: enough to correlate lines, useless for anything else. */
export function shortId (id: SessionId): string {
  return id.slice(0, 10)
}
