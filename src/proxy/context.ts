import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import type { LimitFor } from '../domain/limits.js'
import type { EndReason, SessionId, SessionMeta } from '../domain/session.js'
import type { DecidingPolicy } from '../domain/policy.js'
import type { Pages } from '../pages/index.js'
import type { SessionHasher } from '../http/session-hash.js'
import type { SessionStore } from '../store/store.js'
import type { CookieScopes } from './cookie-scopes.js'
import type { LoginRoute, LogoutRoute, RouteTable } from './routes.js'
import type { SocketRegistry } from './socket-registry.js'
import type { Whoami } from '../identity/index.js'
import type { LRUCache } from 'lru-cache'
import type { EventSink } from '../ops/events.js'
import type { HotCounters } from '../ops/metrics.js'
import type { LoginGuard } from '../guard/index.js'
import type { SerializeCookie } from '../http/set-cookie.js'
import type { GuardedAttempt } from './login-guard.js'

/**
 * Everything the hooks share, built once per gateway. The fields that are
 * not readonly are rebuilt when the configuration is reloaded (SIGHUP); the
 * hooks read them per request, never keep them.
 */
export interface GatewayContext {
  config: Config
  readonly store: SessionStore
  readonly hash: SessionHasher
  limitFor: LimitFor
  routes: RouteTable
  readonly scopes: CookieScopes
  readonly sockets: SocketRegistry
  readonly now: () => number
  readonly log: FastifyBaseLogger
  /** The top-level whoami (for `login: auto` and `unknownSessions: adopt`), if configured. */
  whoami: Whoami | undefined
  /** Cookie ids whoami found nobody signed in with, and when (asked again after a while). */
  readonly anonymous: LRUCache<SessionId, number>
  /** Session values awaiting their whoami question until the browser's own request has been answered (identification.ts); bounded. */
  readonly awaiting: Windows
  /** The policy that decides at once: `policy`, or under `ask` its fallback (for clients that cannot be asked, idle sessions coming back, sessions met for the first time). */
  decidingPolicy: DecidingPolicy
  /** What is kept with a new session about its device and address. */
  readonly meta: (request: FastifyRequest) => SessionMeta
  /** The gateway's own pages: the chooser, the sessions page, the signed-out page. */
  readonly pages: Pages
  /** What the gateway does, for the audit trail and the metrics. */
  readonly events: EventSink
  /** Per-request counts kept as plain numbers (read by the metrics). */
  readonly counters: HotCounters
  /** Logs a warning at most once a minute per key (for things that may repeat on every request). */
  readonly warnEveryMinute: (key: string, details: Record<string, unknown>, message: string) => void
  /** For the pages: the tracked session a request is made with, as the session check found it (the page then answers the request itself). */
  readonly holderOf: (request: FastifyRequest) => Holder | undefined
  /** For the pages: answers a request whose session ended, as the gateway does everywhere. */
  readonly answerEnded: (request: FastifyRequest, reply: FastifyReply, reason: EndReason) => FastifyReply
  /** The login guard (src/guard/), or undefined with `guard: false`. */
  readonly guard: LoginGuard | undefined
  /** @fastify/cookie's serializer, for the cookies the gateway sets itself. */
  readonly serializeCookie: SerializeCookie
  /** `ended.upstreamLogout`: the ended sessions already logged out of the app (their ids, never a cookie). */
  readonly logoutReplays?: import('./upstream-logout.js').LogoutReplays
}


/** What the request hooks learned, for the proxying and the response hooks. */
export interface RequestState {
  /** The tracked live sessions the request carried, by their current id. */
  carried: SessionId[]
  /** The ids of every session cookie value the request carried. */
  carriedIds: Set<SessionId>
  login: LoginRoute | undefined
  logout: LogoutRoute | undefined
  /** The user a login request names, once read (from the request; answer-phase strategies read it later). */
  user: string | undefined
  /** The login's group, if the route reads one from the request. */
  group: string | undefined
  /** Cookie values of ended sessions to remove before forwarding. */
  strip: Set<string> | undefined
  /** The request carried nothing but stripped values: the answer also asks the browser to drop them. */
  clearStripped: boolean
  /** The tracked session the request is made with (see Holder), for the pages. */
  holder: Holder | undefined
  /** A value the request carried (cookie or URL) is a session waiting for its user's choice. */
  pendingSeen: boolean
  /** The gateway answered this request itself; the response watcher leaves it alone. */
  answered: boolean
  /** A login attempt the guard allowed: settled once the app's answer is classified. */
  guard: GuardedAttempt | undefined
  /** The app's answer logged the user in by the route's own rules (for the guard's classification). */
  loggedIn: boolean
  /** The login guard's device cookie, taken out of the request's Cookie header before anything reads it. */
  deviceToken?: string | undefined
  /** A value forwarded before its whoami question (identification.ts): asked about when the answer is known. */
  identifying?: Identifying | undefined
  /** A value of a window carried on a login or logout path (not held back): a new value in the answer joins that window. */
  joinsWindow?: IdentificationWindow | undefined
}

import type { Holder } from '../sessions/context.js'
import type { IdentificationWindow, Identifying, Windows } from './identification.js'
export type { Holder }

/** Re-exported for the proxy's modules; it lives with the session's other rules. */
export { shortId } from '../domain/session.js'

export function createRateLimitedWarn (log: FastifyBaseLogger, now: () => number): GatewayContext['warnEveryMinute'] {
  const last = new Map<string, number>()
  return (key, details, message) => {
    const t = now()
    if ((last.get(key) ?? -Infinity) > t - 60_000) return
    if (last.size > 1000) last.clear()
    last.set(key, t)
    log.warn(details, message)
  }
}
