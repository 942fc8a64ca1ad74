import type { SessionRecord } from './session.js'

export const POLICIES = ['evict-idlest', 'evict-oldest', 'reject-new', 'ask'] as const
export type Policy = typeof POLICIES[number]
/** The policies that decide at once: what `ask` falls back to (and what clients that cannot be asked get). */
export const DECIDING_POLICIES = ['evict-idlest', 'evict-oldest', 'reject-new'] as const
export type DecidingPolicy = typeof DECIDING_POLICIES[number]

export type Decision =
  | { admit: true, end: SessionRecord[] }
  /** `ask`: admitted, but pending until the user chooses what to end. */
  | { admit: true, pending: true, end: [] }
  | { admit: false }

/**
 * What admitting one more session for a user means, given the sessions of that
 * user that count now. This is the whole rule; the memory store calls it, and
 * the Redis script (which must run it atomically inside Redis) mirrors it line
 * for line.
 *
 * - under the limit (or limit 0, unlimited): admit, end nothing;
 * - `reject-new`: refuse the newcomer, touch nothing;
 * - `evict-oldest`: end those that logged in first;
 * - `ask`: admit the newcomer as pending, end nothing: its user chooses;
 * - `evict-idlest`: end those used least recently. This is the default because
 *   ending the oldest can end the device in use (a laptop signed in all week),
 *   while the least recently used one is the one nobody is looking at.
 * Ties are broken by the older login, then by id, so every store decides alike.
 */
export function decide (counting: readonly SessionRecord[], limit: number, policy: Policy): Decision {
  if (limit === 0 || counting.length < limit) return { admit: true, end: [] }
  if (policy === 'reject-new') return { admit: false }
  if (policy === 'ask') return { admit: true, pending: true, end: [] }
  // Room for the new login: limit - 1 of the others stay.
  return { admit: true, end: surplus(counting, limit - 1, policy) }
}

/**
 * The sessions to end so that `keep` remain, in the policy's order: the
 * retroactive sweep (after a limit was lowered) ends what the policy would
 * have ended at login. `evict-oldest` ends the first logins, `evict-idlest`
 * the least recently used; `reject-new`, which never ends a session at
 * login, keeps the first ones and ends the later. (`ask` is decided by its
 * fallback.)
 */
export function surplus (counting: readonly SessionRecord[], keep: number, policy: DecidingPolicy): SessionRecord[] {
  if (counting.length <= keep) return []
  const order = policy === 'evict-oldest' ? byLogin : policy === 'evict-idlest' ? byLastUse : (a: SessionRecord, b: SessionRecord) => byLogin(b, a)
  return [...counting].sort(order).slice(0, counting.length - keep)
}

function byLogin (a: SessionRecord, b: SessionRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function byLastUse (a: SessionRecord, b: SessionRecord): number {
  return a.lastUsedAt - b.lastUsedAt || byLogin(a, b)
}
