/**
 * Sessions as the gateway sees them. No HTTP, no storage: plain data and the
 * rules of time that every store applies the same way.
 */

/** A session's identity: the keyed hash of its cookie, never the cookie itself. */
export type SessionId = string

/** Why a session was ended; the `reason` a refused client is told. */
export type EndReason = 'concurrent_login_limit'

export interface SessionRecord {
  id: SessionId
  user: string
  /** When the session logged in (ms since epoch). */
  createdAt: number
  /** When a request last carried it. */
  lastUsedAt: number
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

/** Does this session count towards its user's limit right now? */
export function counts (r: Pick<SessionRecord, 'createdAt' | 'lastUsedAt'>, now: number, t: Timeouts): boolean {
  return !isTooOld(r.createdAt, now, t) && !isIdle(r.lastUsedAt, now, t)
}
