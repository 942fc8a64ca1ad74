import type { EndedBy, EndReason, SessionId, SessionMeta, SessionRecord } from '../domain/session.js'
import type { DecidingPolicy, Policy } from '../domain/policy.js'

/**
 * How many later cookie ids (rotations) of one session are remembered. An app
 * that keeps old cookies valid after rotating (a stateless cookie store) and
 * rotates more often than this within `maxAge` can have its oldest cookies
 * pass untracked; for an app that invalidates old ids on rotation (most
 * server-side session stores) the bound changes nothing.
 */
export const MAX_ALIASES_PER_SESSION = 256

/**
 * What a store knows about one session id.
 * - `live`: tracked and counting; the check has recorded this use. `slot` is
 *   the session's key: the id of its first cookie, also for a later cookie of
 *   it (after the app rotated the id), so every cookie of one session is
 *   that one session.
 * - `idle`: tracked, but unused for `idleTimeout`, so it stopped counting. If
 *   it is used again it must be admitted again (it may now be over the limit).
 * - `ended`: refused at the gateway.
 * - `unknown`: never seen, or older than `maxAge`.
 *
 * A store never frees a slot by forgetting an id before `maxAge` is over: an
 * id that becomes unknown would pass the gateway untracked, and many apps
 * still accept an old cookie (Rails' cookie store cannot revoke one at all).
 * So a rotated id stays a cookie of its session, and a session that leaves
 * (logout, replaced by a new login) is ended, never forgotten. That also makes
 * every operation safe when the gateway cannot know which of several cookies
 * the app acted on: at worst it ends too much, never frees too much.
 */
export type SessionState =
  | { state: 'live', user: string, slot: SessionId }
  | { state: 'idle', user: string, slot: SessionId, group?: string }
  /** Admitted over the limit under policy ask: its user must choose (until `until`, then the fallback applies). */
  | { state: 'pending', user: string, slot: SessionId, until: number, group?: string }
  /**
   * `key`: the ended session's key (the id its ending was logged under) and
   * `user`: whose it was, when the store still knows (they name the session
   * in the refused request's log line; details of recent endings only).
   */
  | { state: 'ended', reason: EndReason, by?: EndedBy, key?: SessionId, user?: string }
  | { state: 'unknown' }

export interface LoginAttempt {
  user: string
  id: SessionId
  /** The user's group, kept with the session (for its limit if it goes idle and comes back). */
  group?: string
  /** What the user is shown about this session (its device, where from), and about the sessions it ends. */
  meta?: SessionMeta
  /** Under policy ask: how long the new session may wait for its user's choice. */
  askTimeout?: number
  now: number
  /** The user's limit; 0 is unlimited. */
  limit: number
  policy: Policy
  /**
   * Sessions the same browser carried: this login replaces them, and they are
   * ended (`replaced`). If one of them is the user's and still counts, the
   * new session takes its slot without a limit check, so a device signing in
   * again never takes a second slot (even under reject-new).
   */
  replaces: readonly SessionId[]
}

export type AdmitResult =
  /**
   * Admitted; `ended` are the sessions that ended because of it (over the
   * limit, or replaced on the device). `pending` under policy ask: over the
   * limit, nothing ended, the user must choose.
   */
  | { admitted: true, ended: SessionRecord[], pending?: true }
  /** Refused by `reject-new` (the new id is recorded as ended), or the id had already been ended. */
  | { admitted: false, reason: 'limit' | 'ended' }

export type RotateResult =
  /** The new id is now a cookie of the same session (the old one stays one too). */
  | { rotated: true, user: string }
  /** The session had been ended meanwhile: the new id is ended too, so it cannot slip in. */
  | { rotated: false, ended: true }
  /** The old id is not tracked; nothing to do. */
  | { rotated: false, ended: false }

export type SettleResult =
  /** Now live (counting); `ended` are the sessions the policy ended for it. */
  | { state: 'live', ended: SessionRecord[] }
  /** Still over the limit under `ask`: still waiting. */
  | { state: 'pending' }
  /** Refused (reject-new), or not (any more) a pending session. */
  | { state: 'ended' }
  | { state: 'unknown' }

export interface StoreStats {
  /** Tracked sessions (counting or idle). */
  live: number
  /** Ended sessions still refused. */
  ended: number
  /** Later cookie ids of rotated sessions remembered. */
  aliases: number
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
  /** Looks a session up (following rotations) and, if it is live, records that it was just used. */
  check (id: SessionId, now: number): Promise<SessionState>
  /**
   * The same answer as `check`, when the store can give it without waiting
   * on anything (the memory store always; the Redis store from its cache);
   * undefined: ask `check`. This is what lets the request of a signed-in user
   * pass the gateway without a single promise.
   */
  checkCached? (id: SessionId, now: number): SessionState | undefined
  /** Admits a login under the user's limit and policy, ending or refusing as needed — one atomic step. */
  admit (attempt: LoginAttempt): Promise<AdmitResult>
  /** The app replaced a session's cookie (Django's cycle_key, Rails' reset_session…): the new id keeps the slot. */
  rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult>
  /**
   * Ends sessions: every id given is refused from now on (an id the store did
   * not know is recorded too). Sessions already ended keep their first reason.
   * `by` (the device that ended them) is kept for the page that tells the
   * signed-out device why. Returns the sessions that were live and are now ended.
   */
  end (ids: readonly SessionId[], reason: EndReason, now: number, by?: EndedBy): Promise<SessionRecord[]>
  /**
   * Decides a pending session (policy ask) now: admits it under `policy` (a
   * deciding policy: the fallback, or `ask` again after the user ended some
   * sessions) and `limit`, ending what the policy ends.
   */
  settle (key: SessionId, policy: DecidingPolicy | 'ask', limit: number, now: number): Promise<SettleResult>
  /** The user's tracked sessions, counting, idle or pending, oldest login first. */
  sessionsOf (user: string, now: number): Promise<SessionRecord[]>
  /**
   * Every user (owner) with at least one tracked session, each once, in no
   * order: for the admin API's over-limit list and the sweep, not for the
   * request path (Redis scans its keys for it).
   */
  users (now: number): AsyncIterable<string>
  /** Resolves when the store can be used; throws the store's unavailable error otherwise (readiness). */
  ping (): Promise<void>
  stats (now: number): Promise<StoreStats>
  close (): Promise<void>
}

/** What a store tells its operator about (memory pressure, outages…). Kept apart from any logging library. */
export interface StoreEvents {
  warn: (message: string, details?: Record<string, unknown>) => void
  error?: (message: string, details?: Record<string, unknown>) => void
  info?: (message: string, details?: Record<string, unknown>) => void
  /** Sessions ended by another gateway of the fleet (heard from Redis): their open connections here must close. */
  endedElsewhere?: (ids: SessionId[]) => void
}
