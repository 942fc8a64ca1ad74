import { ownerParts, slotOwner } from '../domain/limits.js'
import { surplus } from '../domain/policy.js'
import { counts, isIdle, type SessionRecord } from '../domain/session.js'
import type { Client } from '../ops/events.js'
import type { AdminContext } from './context.js'
import { endSessions } from '../sessions/actions.js'

/**
 * What the admin API (and so the CLI) can do with sessions, apart from HTTP.
 * Sessions are named by their keyed hash (the store's id), never a cookie.
 */

export interface SessionView {
  id: string
  user: string
  scope: string
  /** `ended`: in the answer of a call that just ended it. */
  state: 'counting' | 'idle' | 'pending' | 'ended'
  signedInAt: string
  lastUsedAt: string
  device?: string
  ip?: string
  group?: string
  pendingUntil?: string
}

export interface UserSessions {
  user: string
  scope: string
  limit: number
  /** Sessions counting towards the limit now. */
  counting: number
  sessions: SessionView[]
}

/**
 * A user's sessions in every scope they have sessions in: those the
 * configuration names (the default one first), then any other the store
 * holds. A scope a reload removed still has the sessions made under it: they
 * keep working until they expire, so they must be listed and can be ended.
 */
export async function userSessions (ctx: AdminContext, user: string): Promise<UserSessions[]> {
  const out: UserSessions[] = []
  for (const owner of await ownersOf(ctx, user)) {
    const listed = await ownerSessions(ctx, owner)
    if (listed.sessions.length > 0) out.push(listed)
  }
  return out
}

/**
 * The user's slot owners (the user in each scope). The store does not index
 * owners by user, so finding the scopes the configuration no longer names
 * walks every owner (`users`, as the over-limit list and the sweep do): an
 * admin call, never the request path.
 */
async function ownersOf (ctx: AdminContext, user: string): Promise<string[]> {
  const owners = new Set([undefined, ...ctx.config.login.routes.map((r) => r.scope)].map((scope) => slotOwner(user, scope)))
  for await (const owner of ctx.store.users(ctx.now())) {
    if (ownerParts(owner).user === user) owners.add(owner)
  }
  return [...owners]
}

/** One owner's (user in a scope) sessions, oldest sign-in first, with the limit that applies to them. */
export async function ownerSessions (ctx: AdminContext, owner: string): Promise<UserSessions> {
  const now = ctx.now()
  const records = await ctx.store.sessionsOf(owner, now)
  const { user, scope } = ownerParts(owner)
  const newest = records[records.length - 1]
  const limit = ctx.limitFor(user, { scope, group: newest?.group })
  const sessions = records.map((r) => view(ctx, r, now))
  return { user, scope, limit, counting: sessions.filter((s) => s.state === 'counting').length, sessions }
}

function view (ctx: AdminContext, r: SessionRecord, now: number): SessionView {
  const { user, scope } = ownerParts(r.user)
  const state = r.pendingUntil !== undefined ? 'pending' : isIdle(r.lastUsedAt, now, ctx.config.sessions) ? 'idle' : 'counting'
  return {
    id: r.id,
    user,
    scope,
    state,
    signedInAt: new Date(r.createdAt).toISOString(),
    lastUsedAt: new Date(r.lastUsedAt).toISOString(),
    ...(r.device === undefined ? {} : { device: r.device }),
    ...(r.ip === undefined ? {} : { ip: r.ip }),
    ...(r.group === undefined ? {} : { group: r.group }),
    ...(r.pendingUntil === undefined ? {} : { pendingUntil: new Date(r.pendingUntil).toISOString() })
  }
}

/**
 * Every user's sessions, a page at a time: the users (each user and scope)
 * from `offset` on, at most `limit` of them, in the store's order (a user
 * signing in meanwhile may shift a page by one). `next`: the offset of the
 * next page, or null after the last.
 */
export async function allSessions (ctx: AdminContext, offset: number, limit: number): Promise<{ users: UserSessions[], next: number | null }> {
  const users: UserSessions[] = []
  let i = 0
  for await (const owner of ctx.store.users(ctx.now())) {
    if (i++ < offset) continue
    if (users.length === limit) return { users, next: offset + limit }
    const listed = await ownerSessions(ctx, owner)
    if (listed.sessions.length > 0) users.push(listed)
  }
  return { users, next: null }
}

/** Users with more counting sessions than `max` (or than their own limit); at most `cap` of them. */
export async function overLimit (ctx: AdminContext, max: number | undefined, cap: number): Promise<{ users: UserSessions[], truncated: boolean }> {
  const users: UserSessions[] = []
  for await (const owner of ctx.store.users(ctx.now())) {
    const listed = await ownerSessions(ctx, owner)
    // A user the configuration leaves unlimited (a service account) is never over a limit, not even `max`.
    const allowed = listed.limit === 0 ? 0 : max ?? listed.limit
    if (allowed !== 0 && listed.counting > allowed) {
      if (users.length === cap) return { users, truncated: true }
      users.push(listed)
    }
  }
  return { users, truncated: false }
}

/**
 * Ends a user's sessions (every scope), all but the newest `keep` sign-ins
 * of each scope. Returns what was ended.
 */
export async function endUserSessions (ctx: AdminContext, user: string, keep: number, client: Client | undefined): Promise<SessionView[]> {
  const ended: SessionView[] = []
  for (const listed of await userSessions(ctx, user)) {
    const byNewest = [...listed.sessions].sort((a, b) => b.signedInAt.localeCompare(a.signedInAt) || (a.id < b.id ? -1 : 1))
    const doomed = byNewest.slice(keep)
    const done = await endSessions(ctx, doomed.map((s) => s.id), 'ended_by_admin', { client, by: { at: ctx.now() } })
    const doneIds = new Set(done.map((r) => r.id))
    ended.push(...doomed.filter((s) => doneIds.has(s.id)).map((s) => ({ ...s, state: 'ended' as const })))
  }
  return ended
}

/** Ends one session by its id (any cookie id of it). Returns what was ended. */
export async function endSession (ctx: AdminContext, id: string, client: Client | undefined): Promise<SessionView[]> {
  const now = ctx.now()
  const done = await endSessions(ctx, [id], 'ended_by_admin', { client, by: { at: now } })
  return done.map((r) => ({ ...view(ctx, r, now), state: 'ended' as const }))
}

export interface SweepResult {
  dryRun: boolean
  /** Users over the limit, and the sessions of each that were (or would be) ended. */
  users: Array<{ user: string, scope: string, limit: number, counting: number, ended: SessionView[] }>
  ended: number
}

/**
 * The retroactive clean-up: every user with more counting sessions than
 * `max` (or than their own limit, if no max) loses the surplus, in the
 * policy's order (under ask, its fallback's). Idle and waiting sessions do
 * not count and are left alone: an idle one is checked against the limit
 * again when it is next used. Each user is read and then ended in two steps;
 * a login of the same user in between is decided by the store as usual, so
 * at worst the sweep ends a session that login already ended.
 */
export async function sweep (ctx: AdminContext, max: number | undefined, dryRun: boolean, client: Client | undefined): Promise<SweepResult> {
  const result: SweepResult = { dryRun, users: [], ended: 0 }
  const now = ctx.now()
  for await (const owner of ctx.store.users(now)) {
    const records = await ctx.store.sessionsOf(owner, now)
    const { user, scope } = ownerParts(owner)
    const own = ctx.limitFor(user, { scope, group: records[records.length - 1]?.group })
    // Unlimited users (service accounts, an unlimited scope) are left alone, also with `max`.
    if (own === 0) continue
    const limit = max ?? own
    const counting = records.filter((r) => counts(r, now, ctx.config.sessions))
    const doomed = surplus(counting, limit, ctx.decidingPolicy)
    if (doomed.length === 0) continue
    let ended = doomed
    if (!dryRun) {
      const done = new Set((await endSessions(ctx, doomed.map((r) => r.id), 'ended_by_admin', { client, by: { at: now } })).map((r) => r.id))
      ended = doomed.filter((r) => done.has(r.id))
    }
    result.users.push({ user, scope, limit, counting: counting.length, ended: ended.map((r) => { const v = view(ctx, r, now); return dryRun ? v : { ...v, state: 'ended' as const } }) })
    result.ended += ended.length
  }
  return result
}
