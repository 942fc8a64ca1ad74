import type { EndReason, SessionId, SessionRecord } from '../domain/session.js'
import type { Policy } from '../domain/policy.js'

/**
 * What a store knows about one session id.
 * - `live`: tracked and counting; the check has recorded this use.
 * - `idle`: tracked, but unused for `idleTimeout`, so it stopped counting. If
 *   it is used again it must be admitted again (it may now be over the limit).
 * - `ended`: refused at the gateway.
 * - `unknown`: never seen, logged out, or older than `maxAge`.
 */
export type SessionState =
  | { state: 'live', user: string }
  | { state: 'idle', user: string }
  | { state: 'ended', reason: EndReason }
  | { state: 'unknown' }

export interface LoginAttempt {
  user: string
  id: SessionId
  now: number
  /** The user's limit; 0 is unlimited. */
  limit: number
  policy: Policy
  /**
   * Sessions this login replaces: the ones the same browser carried. A device
   * that logs in again takes its own slot back rather than a second one.
   */
  replaces: readonly SessionId[]
}

export type AdmitResult =
  /** Admitted; `ended` are the sessions that had to end for it (empty if none). */
  | { admitted: true, ended: SessionRecord[] }
  /** Refused by `reject-new` (the new id is recorded as ended), or the id had already been ended. */
  | { admitted: false, reason: 'limit' | 'ended' }

export type RotateResult =
  /** The new id took over the old one's slot. */
  | { rotated: true, user: string }
  /** The old id had been ended meanwhile: the new id is ended too, so it cannot slip in. */
  | { rotated: false, ended: true }
  /** The old id is not tracked; nothing to do. */
  | { rotated: false, ended: false }

export interface StoreStats {
  live: number
  ended: number
}

/**
 * Where sessions are kept. Every implementation passes the one contract suite
 * in `test/store/contract.ts`. Each method is atomic for the user it touches:
 * no two admissions of one user interleave.
 *
 * Time is always passed in (`now`), never read inside a store, so tests move
 * the clock instead of sleeping.
 */
export interface SessionStore {
  readonly kind: string
  /** Looks a session up and, if it is live, records that it was just used. */
  check (id: SessionId, now: number): Promise<SessionState>
  /** Admits a login under the user's limit and policy, ending or refusing as needed — one atomic step. */
  admit (attempt: LoginAttempt): Promise<AdmitResult>
  /** The app replaced a session's cookie (Django's cycle_key, Rails' reset_session…): the new id keeps the slot. */
  rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult>
  /** Logout: frees the slots of these sessions. Ended sessions stay ended. Returns how many were freed. */
  release (ids: readonly SessionId[], now: number): Promise<number>
  /** The user's tracked sessions, counting or idle, oldest login first. */
  sessionsOf (user: string, now: number): Promise<SessionRecord[]>
  stats (now: number): Promise<StoreStats>
  close (): Promise<void>
}

/** What a store tells its operator about (memory pressure…). Kept apart from any logging library. */
export interface StoreEvents {
  warn (message: string, details?: Record<string, unknown>): void
}
