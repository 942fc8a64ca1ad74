import { decide, type DecidingPolicy } from '../domain/policy.js'
import { counts, shortId, type EndedBy, type EndReason, type SessionId, type SessionRecord } from '../domain/session.js'
import { actorOf, type Client } from '../ops/events.js'
import type { AdmitResult, LoginAttempt, SettleResult } from '../store/store.js'
import type { SessionsContext } from './context.js'

/**
 * Every change the gateway makes to sessions goes through here, whoever asks
 * (a request through the proxy, a user on the pages, an administrator): the
 * store does it, the sessions' open WebSockets close, and the audit trail
 * and the metrics hear of it. Observe mode lives here too: the decision is
 * made and reported, and nothing is enforced. Nothing here knows HTTP.
 */

/**
 * The reasons that are the limit's own decisions: observe mode lets such a
 * session through. The others stay enforced: a person's explicit act (a user
 * on the pages, an administrator), and the app's (its logout, a new login on
 * the device), whose old cookie must not come back — an app with a stateless
 * cookie store cannot revoke it itself.
 */
const OBSERVED: ReadonlySet<EndReason> = new Set(['concurrent_login_limit', 'login_not_identified'])

export function isObserving (ctx: SessionsContext): boolean {
  return ctx.config.mode === 'observe'
}

/** Does observe mode let a session ended for this reason through? (Only the gateway's own decisions are observed.) */
export function observedOnly (ctx: SessionsContext, reason: EndReason): boolean {
  return isObserving(ctx) && OBSERVED.has(reason)
}

/**
 * Admits a login (or a session met again: adopted, revived). In observe mode
 * the store admits it without a limit, and what the limit would have done is
 * reported with `enforced: false`: the store then keeps tracking what really
 * happens, so switching to enforce later starts from the truth.
 */
export async function admitSession (ctx: SessionsContext, attempt: LoginAttempt, via: string, client: Client | undefined): Promise<AdmitResult> {
  const { user, id } = attempt
  if (isObserving(ctx) && attempt.limit !== 0) {
    const records = await ctx.store.sessionsOf(user, attempt.now)
    const counting = records.filter((r) => r.id !== id && !attempt.replaces.includes(r.id) && counts(r, attempt.now, ctx.config.sessions))
    const would = decide(counting, attempt.limit, attempt.policy)
    const result = await ctx.store.admit({ ...attempt, limit: 0 })
    if (!would.admit) {
      ctx.events.emit({ type: 'login', outcome: 'rejected', user, session: id, group: attempt.group, via, client, enforced: false })
      ctx.log.info({ user, session: shortId(id) }, 'observe: would refuse this login (over the limit)')
    } else if ('pending' in would) {
      ctx.events.emit({ type: 'login', outcome: 'pending', user, session: id, group: attempt.group, via, client, enforced: false })
      ctx.log.info({ user, session: shortId(id) }, 'observe: would ask the user which device to sign out')
    } else {
      for (const r of would.end) {
        ctx.events.emit({ type: 'session_ended', user, session: r.id, reason: 'concurrent_login_limit', by: 'policy', trigger: id, client, enforced: false })
        ctx.log.info({ user, session: shortId(r.id), by: shortId(id) }, 'observe: would end session (over the limit)')
      }
    }
    if (result.admitted) {
      ctx.events.emit({ type: 'login', outcome: 'admitted', user, session: id, group: attempt.group, via, client, enforced: true })
      reportEnded(ctx, user, result.ended, attempt.replaces, id, client)
    }
    return result
  }
  const result = await ctx.store.admit(attempt)
  if (!result.admitted) {
    if (result.reason === 'limit') ctx.events.emit({ type: 'login', outcome: 'rejected', user, session: id, group: attempt.group, via, client, enforced: true })
    return result
  }
  ctx.events.emit({ type: 'login', outcome: result.pending === true ? 'pending' : 'admitted', user, session: id, group: attempt.group, via, client, enforced: true })
  reportEnded(ctx, user, result.ended, attempt.replaces, id, client)
  return result
}

function reportEnded (ctx: SessionsContext, user: string, ended: readonly SessionRecord[], replaces: readonly SessionId[], trigger: SessionId, client: Client | undefined): void {
  if (ended.length === 0) return
  ctx.sockets.closeSessions(ended.map((r) => r.id))
  for (const r of ended) {
    const reason: EndReason = replaces.includes(r.id) ? 'replaced' : 'concurrent_login_limit'
    ctx.events.emit({ type: 'session_ended', user, session: r.id, reason, by: actorOf(reason), trigger, client, enforced: true })
  }
}

/**
 * Ends sessions for a reason; returns those that were live and are now
 * ended. `user` names whose they are when the caller knows (for the audit
 * trail; the store's records say it otherwise).
 */
export async function endSessions (
  ctx: SessionsContext, ids: readonly SessionId[], reason: EndReason, opts: { client?: Client, by?: EndedBy, user?: string } = {}
): Promise<SessionRecord[]> {
  if (ids.length === 0) return []
  const ended = await ctx.store.end(ids, reason, ctx.now(), opts.by)
  ctx.sockets.closeSessions(ids)
  for (const r of ended) {
    ctx.events.emit({ type: 'session_ended', user: r.user, session: r.id, reason, by: actorOf(reason), client: opts.client, enforced: true })
  }
  return ended
}

/**
 * Decides a session waiting under policy ask: after the user's choice
 * (`ask`), or when it was not made in time (the fallback). In observe mode
 * nothing waits, but a session left waiting from before is let through.
 */
export async function settleSession (
  ctx: SessionsContext, key: SessionId, owner: string, policy: DecidingPolicy | 'ask', limit: number, client: Client | undefined
): Promise<SettleResult> {
  const result = await ctx.store.settle(key, policy, isObserving(ctx) ? 0 : limit, ctx.now())
  if (result.state === 'live') {
    // The same login, counted once as pending: now it is settled.
    ctx.events.emit({ type: 'login', outcome: 'settled', user: owner, session: key, via: policy === 'ask' ? 'chosen' : `ask.fallback (${policy})`, client, enforced: true })
    reportEnded(ctx, owner, result.ended, [], key, client)
  } else if (result.state === 'ended' && policy !== 'ask') {
    ctx.events.emit({ type: 'login', outcome: 'refused_after_wait', user: owner, session: key, via: `ask.fallback (${policy})`, client, enforced: true })
  }
  return result
}

/**
 * A request carried an ended session (or, in observe mode, one that would
 * have been refused). Every one is counted; the audit trail writes down the
 * first per session.
 */
export function noteRefused (
  ctx: SessionsContext, refused: { id: SessionId, key?: SessionId, user?: string }, reason: EndReason, method: string, client: Client | undefined, enforced: boolean
): void {
  const key = refused.key ?? refused.id
  ctx.events.emit({
    type: 'request_refused',
    session: key,
    ...(refused.user === undefined ? {} : { user: refused.user }),
    ...(key === refused.id ? {} : { cookie: refused.id }),
    reason, method, client, enforced
  })
}
