import type { Config } from '../config/schema.js'
import type { SessionId } from '../domain/session.js'
import type { EventSink } from '../ops/events.js'
import type { SessionStore } from '../store/store.js'

/**
 * What changing sessions needs, and nothing of HTTP: the store that decides,
 * the open connections to close, the audit trail and metrics to tell, a
 * log. The proxy, the pages and the admin API each hand theirs in (the
 * gateway's context has all of it), so every change to sessions is made the
 * same way whoever asks for it (Keycloak's UserSessionProvider, Spring
 * Security's SessionRegistry: one service below the filters, the pages and
 * the admin endpoints).
 */
export interface SessionsContext {
  /** Read on every call: a reload (SIGHUP) replaces it. */
  readonly config: Pick<Config, 'mode' | 'sessions'>
  readonly store: SessionStore
  readonly sockets: SessionSockets
  readonly events: EventSink
  readonly log: SessionsLog
  readonly now: () => number
}

/** Closes the open connections (WebSockets) of sessions that ended. */
export interface SessionSockets {
  closeSessions: (ids: readonly SessionId[]) => void
}

/** The log lines the layer writes (pino's, and so Fastify's, shape). */
export interface SessionsLog {
  info: (details: object, message: string) => void
}

/**
 * The tracked session a request is made with (the first the store knows,
 * live or pending), for the pages: whose sessions to show, which is "this
 * device". `owner` is the store's user (with its scope).
 */
export interface Holder {
  slot: SessionId
  owner: string
  group: string | undefined
  /** Pending (policy ask): waiting for its user's choice until then. */
  pendingUntil: number | undefined
}
