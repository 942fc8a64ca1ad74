/**
 * Sessions as the gateway sees them. No HTTP, no storage: plain data and the
 * rules of time that every store applies the same way.
 */

/** A session's identity: the keyed hash of its cookie, never the cookie itself. */
export type SessionId = string

/**
 * Why a session was ended; the `reason` a refused client is told.
 * - `concurrent_login_limit`: ended (or refused, under reject-new) because the user went over the limit;
 * - `logged_out`: the app logged it out (its value must not come back: some apps, e.g. Rails'
 *   cookie store, cannot invalidate a session server-side);
 * - `replaced`: the device signed in as another user; the old user's session is over;
 * - `login_not_identified`: the app logged someone in whom the gateway could not identify, and
 *   the route refuses such logins;
 * - `login_not_recorded`: a login the store could not record under `onError: fail-closed`
 *   (its cookie never reached the client; it must not hold a slot if it was recorded after all);
 * - `ended_by_user`: the user signed it out from another device (the chooser, the sessions page);
 * - `ended_by_admin`: an administrator ended it;
 * - `login_cancelled`: the user cancelled this sign-in on the chooser (policy ask).
 */
export const END_REASONS = [
  'concurrent_login_limit', 'logged_out', 'replaced', 'login_not_identified', 'login_not_recorded',
  'ended_by_user', 'ended_by_admin', 'login_cancelled'
] as const
export type EndReason = typeof END_REASONS[number]

/**
 * Does the device still hold the cookie of a session ended for this reason?
 * Then the refusal asks it to drop it. After a logout or a re-login the
 * device already holds another (or no) cookie under that name, and clearing
 * it would sign out the session it has now.
 */
export function deviceStillHoldsCookie (reason: EndReason): boolean {
  return reason !== 'logged_out' && reason !== 'replaced' && reason !== 'login_not_recorded'
}

/** What a session's user can be shown about it: its device and where it came from (never a cookie). */
export interface SessionMeta {
  /** The browser and system, e.g. "Firefox 133 on Windows 10" (from the User-Agent). */
  device?: string
  /** The address it signed in from, shortened (e.g. 203.0.113.x). */
  ip?: string
}

/** Who or what ended a session, for the page that tells the signed-out device why. */
export interface EndedBy extends SessionMeta {
  /** When it was ended. */
  at: number
}

export interface SessionRecord {
  id: SessionId
  user: string
  /** When the session logged in (ms since epoch). */
  createdAt: number
  /** When a request last carried it. */
  lastUsedAt: number
  /** The user's group when the session logged in, if one was read (it decides the limit again when an idle session comes back). */
  group?: string
  device?: string
  ip?: string
  /** Admitted over the limit under policy ask: waiting (until then) for its user to choose; it does not count meanwhile. */
  pendingUntil?: number
}

export interface Timeouts {
  /** A session unused this long stops counting; 0 turns idle expiry off. */
  idleTimeout: number
  /** A session older than this stops counting; an ended one is refused this long. */
  maxAge: number
}

/** Older than `maxAge`: the record is forgotten. */
export function isTooOld (createdAt: number, now: number, t: Timeouts): boolean {
  return now - createdAt >= t.maxAge
}

/** Unused for `idleTimeout`: kept, but it does not count towards the limit until it is used again. */
export function isIdle (lastUsedAt: number, now: number, t: Timeouts): boolean {
  return t.idleTimeout > 0 && now - lastUsedAt >= t.idleTimeout
}

/** Does this session count towards its user's limit right now? Not once too old, not while idle, not while waiting for a choice (policy ask). */
export function counts (r: Pick<SessionRecord, 'createdAt' | 'lastUsedAt' | 'pendingUntil'>, now: number, t: Timeouts): boolean {
  return r.pendingUntil === undefined && !isTooOld(r.createdAt, now, t) && !isIdle(r.lastUsedAt, now, t)
}

/** Short form of a session id for logs: enough to correlate lines, useless for anything else. */
export function shortId (id: SessionId): string {
  return id.slice(0, 10)
}
