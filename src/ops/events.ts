import type { EndReason, SessionId } from '../domain/session.js'

/**
 * What the gateway did (or, in observe mode, would have done), as plain data.
 * The audit trail and the metrics both listen to these; neither knows where
 * they come from, and the code that acts knows nothing of either.
 */

/** Who ended a session: the limit, the user (the pages), an administrator, the app (its logout), or the gateway itself. */
export type Actor = 'policy' | 'user' | 'admin' | 'app' | 'gateway'

/** The client a request came from, as the audit trail records it. */
export interface Client {
  ip?: string
  userAgent?: string
}

export type GatewayEvent =
  | {
    type: 'login'
    /**
     * `pending` (policy ask) is followed by `settled` (the user chose, or the
     * fallback admitted it) or `refused_after_wait` (a reject-new fallback),
     * so each login is counted once as admitted, rejected or pending.
     */
    outcome: 'admitted' | 'rejected' | 'pending' | 'settled' | 'refused_after_wait'
    user: string
    session: SessionId
    group?: string
    /** How the login was noticed: the route's identity strategy, `login: auto`, `adopt`, `idle session back`… */
    via: string
    client?: Client
    /** False in observe mode when this outcome is only what `enforce` would have done. */
    enforced: boolean
  }
  | {
    type: 'session_ended'
    user?: string
    session: SessionId
    reason: EndReason
    by: Actor
    /** The session whose login ended this one (over the limit). */
    trigger?: SessionId
    client?: Client
    enforced: boolean
  }
  | {
    /** A request carrying an ended session (recorded once per session per gateway). */
    type: 'request_refused'
    /** The session's key, as its login and ending named it. */
    session: SessionId
    /** Whose it was, when the store still knows (recent endings). */
    user?: string
    /** The id of the cookie value the request carried, where the app had rotated it (not the key). */
    cookie?: SessionId
    reason: EndReason
    method: string
    client?: Client
    enforced: boolean
  }
  | {
    /** A login attempt the guard saw, and what became of it (metrics only: the audit trail writes failures and blocks). */
    type: 'login_attempt'
    result: 'success' | 'failure' | 'neutral' | 'refused' | 'would_refuse' | 'unguarded'
  }
  | {
    /** A login the app refused (wrong password, unknown user: never told apart), counted by the guard. */
    type: 'login_failed'
    /** As the request named it; absent: the request named nobody the gateway could read. */
    user?: string
    client?: Client
    enforced: boolean
  }
  | {
    /** A guard counter tripped: its key is blocked until `until`. */
    type: 'login_blocked'
    counter: 'userNetwork' | 'network' | 'user'
    /** The user and client of the attempt that tripped it. */
    user?: string
    client?: Client
    until: string
    failures: number
    /** Times the key was blocked within `guard.block.history`, this one included. */
    times: number
    enforced: boolean
  }
  | {
    /** An administrator lifted guard blocks. */
    type: 'block_lifted'
    kind: 'user' | 'network'
    target: string
    lifted: number
    client?: Client
  }
  | {
    /** `ended.upstreamLogout`: the app's own logout, replayed for an ended session. */
    type: 'upstream_logout'
    session: SessionId
    outcome: 'done' | 'failed'
    status?: number
    error?: string
  }

export type EventType = GatewayEvent['type']

/** Anything that wants to hear of events. `emit` must not throw and must not wait: it runs inside requests. */
export interface EventSink {
  emit (event: GatewayEvent): void
}

/** Who ends a session for each reason. */
export function actorOf (reason: EndReason): Actor {
  switch (reason) {
    case 'concurrent_login_limit': return 'policy'
    case 'ended_by_user':
    case 'login_cancelled': return 'user'
    case 'ended_by_admin': return 'admin'
    case 'logged_out': return 'app'
    default: return 'gateway'
  }
}

/** Hands every event to each sink; a sink that throws (a bug) does not stop the others, nor the request. */
export class EventBus implements EventSink {
  readonly #sinks: EventSink[] = []
  #onError: (err: unknown) => void

  constructor (onError: (err: unknown) => void) {
    this.#onError = onError
  }

  add (sink: EventSink): void {
    this.#sinks.push(sink)
  }

  emit (event: GatewayEvent): void {
    for (const sink of this.#sinks) {
      try {
        sink.emit(event)
      } catch (err) {
        this.#onError(err)
      }
    }
  }
}
