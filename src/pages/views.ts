import type { DecidingPolicy } from '../domain/policy.js'
import type { EndedBy, EndReason, SessionId, SessionRecord } from '../domain/session.js'

/** How a form names a session: the start of its key, enough to tell one user's sessions apart, never a cookie. */
export const HANDLE_LENGTH = 16
export function handleOf (key: SessionId): string {
  return key.slice(0, HANDLE_LENGTH)
}

export interface SessionRow {
  handle: string
  device: string
  ip: string | undefined
  signedIn: string
  signedInAt: string
  signedInIso: string
  lastUsed: string
  lastUsedAt: string
  lastUsedIso: string
  current: boolean
  waiting: boolean
}

/** One row per session, the current one first, then the most recently used. */
export function sessionRows (records: readonly SessionRecord[], current: SessionId, now: number): SessionRow[] {
  const sorted = [...records].sort((a, b) => Number(b.id === current) - Number(a.id === current) || b.lastUsedAt - a.lastUsedAt)
  return sorted.map((r) => ({
    handle: handleOf(r.id),
    device: r.device ?? 'Unknown device',
    ip: r.ip,
    signedIn: ago(r.createdAt, now),
    signedInAt: utc(r.createdAt),
    signedInIso: new Date(r.createdAt).toISOString(),
    lastUsed: ago(r.lastUsedAt, now),
    lastUsedAt: utc(r.lastUsedAt),
    lastUsedIso: new Date(r.lastUsedAt).toISOString(),
    current: r.id === current,
    waiting: r.pendingUntil !== undefined
  }))
}

/** "just now", "5 minutes ago", "3 hours ago", "2 days ago": right in any time zone (the page cannot know the reader's). */
export function ago (at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return 'just now'
  const units: Array<[number, string]> = [[86_400, 'day'], [3_600, 'hour'], [60, 'minute']]
  for (const [size, unit] of units) {
    const n = Math.floor(s / size)
    if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`
  }
  return 'just now'
}

/** "28 Nov 2026, 14:03 UTC". */
export function utc (at: number): string {
  const d = new Date(at)
  const month = d.toLocaleString('en-GB', { month: 'short', timeZone: 'UTC' })
  const hh = String(d.getUTCHours()).padStart(2, '0')
  const mm = String(d.getUTCMinutes()).padStart(2, '0')
  return `${d.getUTCDate()} ${month} ${d.getUTCFullYear()}, ${hh}:${mm} UTC`
}

/** "5 minutes", "90 seconds", "2 hours". */
export function spell (ms: number): string {
  const s = Math.round(ms / 1000)
  for (const [size, unit] of [[86_400, 'day'], [3_600, 'hour'], [60, 'minute']] as const) {
    if (s >= size && s % size === 0) return `${s / size} ${unit}${s === size ? '' : 's'}`
  }
  return `${s} second${s === 1 ? '' : 's'}`
}

/** What happens when the chooser times out, finishing the sentence "If you do not choose within 5 minutes, …". */
export function fallbackText (policy: DecidingPolicy): string {
  switch (policy) {
    case 'evict-idlest': return 'the session used least recently is signed out.'
    case 'evict-oldest': return 'the session that signed in first is signed out.'
    case 'reject-new': return 'this sign-in is cancelled and your other sessions stay signed in.'
  }
}

export interface EndedWording {
  heading: string
  explanation: string
  advice?: string
}

/**
 * What the signed-out page says, by reason. `by` (which device ended the
 * session) is shown under the explanation when known.
 */
export function endedWording (reason: EndReason | undefined, by: EndedBy | undefined): EndedWording {
  switch (reason) {
    case 'concurrent_login_limit':
      return by === undefined
        ? { heading: 'You have been signed out', explanation: 'This account has reached the number of devices it may be signed in on at once.' }
        : { heading: 'You have been signed out', explanation: 'Your account signed in on another device, and it may only be signed in on a limited number of devices at once.', advice: 'If this was not you, sign in again and change your password.' }
    case 'ended_by_user':
      return { heading: 'Signed out from another device', explanation: 'This session was signed out from another device signed in to your account.', advice: 'If this was not you, sign in again and change your password.' }
    case 'ended_by_admin':
      return { heading: 'Signed out by an administrator', explanation: 'An administrator ended this session.' }
    case 'login_cancelled':
      return { heading: 'Sign-in cancelled', explanation: 'You cancelled this sign-in. Your other sessions are still signed in.' }
    case 'replaced':
      return { heading: 'You have been signed out', explanation: 'This session was replaced by a newer sign-in on this device.' }
    case 'login_not_identified':
    case 'login_not_recorded':
      return { heading: 'Sign-in not completed', explanation: 'This sign-in could not be completed. Please try again.' }
    default:
      return { heading: 'You have been signed out', explanation: 'This session has ended.' }
  }
}
