import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseSetCookie, setCookieName, type SetCookie } from '../http/set-cookie.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { replaceWithEnded, replaceWithUnavailable } from './ended-answer.js'
import { isStoreUnavailable } from '../errors.js'
import { kState } from './symbols.js'

/** What the app's Set-Cookie headers did to the session cookie. */
interface SessionCookieChange {
  /** The new value the browser ends up with, if any header set one. */
  set: SetCookie | undefined
  /** Every session Set-Cookie cleared it (and none set a value). */
  cleared: boolean
}

/**
 * onSend: what the app's answer means for the sessions. Fastify runs this
 * after reply-from has copied the app's headers and before a byte is written,
 * and (unlike reply-from's own header hooks) it may be async, so the store can
 * be asked here. The answer's body is a stream that is not touched, except
 * when a refused login replaces the whole answer.
 *
 * - a logout route answered with success, or the session cookie was cleared
 *   (any route): the carried sessions are ended as logged out;
 * - a new session cookie on a login route that succeeded: a login, admitted
 *   under the limit, or refused (reject-new, or a user it cannot identify);
 * - any other new session cookie for a request that carried a tracked
 *   session: the app rotated the id, and the new cookie is the same session.
 * None of these ever frees a slot by forgetting a session (see store.ts), so
 * they are safe even when a request carried several session cookies and the
 * gateway cannot know which one the app acted on.
 */
export function responseWatch (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return async function watchResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const state = request[kState]
    if (state == null || state.answered) return payload
    const now = ctx.now()
    const change = sessionCookieChange(ctx, reply, cookieName, now)
    try {
      const replaced = await applyAnswer(ctx, request, reply, payload, state, change, now)
      if (replaced !== undefined) return replaced
    } catch (err) {
      if (!isStoreUnavailable(err)) request.log.error({ err }, 'could not record what the app answered')
      // fail-closed: a login (or a new cookie of a session) that cannot be
      // recorded is not let through: its cookie never reaches the client.
      // Otherwise the app's answer is delivered; the store logs the outage
      // once, and writes endings and rotations it missed when it is back.
      if (isStoreUnavailable(err) && ctx.config.store.onError === 'fail-closed' && (isLogin(state, change, reply.statusCode) || isRotation(ctx, state, change))) {
        state.answered = true
        if (change.set !== undefined) {
          // The store may have recorded it after all (a late answer): it must
          // not hold a slot no client has. Written when the store is back.
          ctx.store.end([ctx.hash(change.set.value)], 'login_not_recorded', now).catch(() => {})
        }
        return replaceWithUnavailable(reply, payload)
      }
    }
    if (state.clearStripped && change.set === undefined && !change.cleared) {
      // The browser still holds the ended cookie (and nothing else under its name): ask it to drop it.
      void reply.header('set-cookie', ctx.scopes.clearAll())
    }
    return payload
  }
}

function isLogin (state: RequestState, change: SessionCookieChange, status: number): boolean {
  return state.login !== undefined && change.set !== undefined && state.login.accepts(status)
}

/** A new cookie for a session the request carried: under fail-closed, one the store cannot follow is not let out either. */
function isRotation (ctx: GatewayContext, state: RequestState, change: SessionCookieChange): boolean {
  return change.set !== undefined && state.carried.length > 0 && !state.carriedIds.has(ctx.hash(change.set.value))
}

/**
 * Reads the session cookie's Set-Cookie headers (learning cookie scopes on the
 * way). A login is any header that sets a value, even if another one clears a
 * cookie of the same name under another Path: that is cleaning up.
 */
function sessionCookieChange (ctx: GatewayContext, reply: FastifyReply, cookieName: string, now: number): SessionCookieChange {
  const header = reply.getHeader('set-cookie')
  if (header === undefined) return { set: undefined, cleared: false }
  const list = Array.isArray(header) ? header : [String(header)]
  let set: SetCookie | undefined
  let clears = false
  for (const h of list) {
    if (!ctx.scopes.watches(setCookieName(h))) continue
    const c = parseSetCookie(h, now)
    if (c === undefined) continue
    ctx.scopes.learn(c)
    if (c.name !== cookieName) continue
    if (c.clears) clears = true
    else set = c
  }
  return { set, cleared: clears && set === undefined }
}

async function applyAnswer (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown,
  state: RequestState, change: SessionCookieChange, now: number
): Promise<string | undefined> {
  const status = reply.statusCode
  if (state.logout?.accepts(status) === true || change.cleared) {
    if (state.carried.length > 0) {
      // Ended, not forgotten: an app may still accept the old cookie (a
      // stateless cookie store cannot revoke it), and it must not come back.
      const ended = await ctx.store.end(state.carried, 'logged_out', now)
      ctx.sockets.closeSessions(state.carried)
      request.log.info({ sessions: state.carried.map(shortId), ended: ended.length }, 'logout: session ended')
    }
    return undefined
  }
  const set = change.set
  if (set === undefined) return undefined
  const id = ctx.hash(set.value)
  const login = state.login

  if (login !== undefined && login.accepts(status)) {
    const user = state.user
    if (user !== undefined) return await admitLogin(ctx, request, reply, payload, state, user, id, now)
    if (login.config.unidentified === 'refuse') {
      await ctx.store.end([id], 'login_not_identified', now)
      request.log.warn({ route: login.config.path, from: login.identity.describe, session: shortId(id) },
        'login refused: the app signed someone in, but the user could not be read from the request (set login[].unidentified: pass to let such logins through uncounted)')
      state.answered = true
      return replaceWithEnded(ctx, request, reply, payload, 'login_not_identified')
    }
    ctx.warnEveryMinute(`unidentified:${login.config.path}`, { route: login.config.path, from: login.identity.describe },
      'login succeeded but the user could not be read from the request; not counted (unidentified: pass)')
  } else if (login !== undefined && !state.carriedIds.has(id)) {
    ctx.warnEveryMinute(`status:${login.config.path}:${status}`, { route: login.config.path, status, accepted: login.config.status },
      'login route set a new session cookie with a status it does not accept as a login: not counted as a login (check login[].status)')
  }

  // Not a login: a new cookie for a session the request carried is that session's new cookie.
  const from = state.carried[0]
  if (from !== undefined && !state.carriedIds.has(id)) {
    const result = await ctx.store.rotate(from, id, now)
    if (result.rotated) request.log.debug({ session: shortId(from), cookie: shortId(id) }, 'session id rotated by the app')
    else if (result.ended) request.log.info({ session: shortId(from), cookie: shortId(id) }, 'session rotated after it was ended: the new cookie is ended too')
  }
  return undefined
}

async function admitLogin (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown,
  state: RequestState, user: string, id: string, now: number
): Promise<string | undefined> {
  const result = await ctx.store.admit({ user, id, now, limit: ctx.limitFor(user), policy: ctx.config.policy, replaces: state.carried })
  if (result.admitted) {
    ctx.sockets.closeSessions(result.ended.map((r) => r.id))
    request.log.info({ user, session: shortId(id), ended: result.ended.map((r) => shortId(r.id)) }, 'login admitted')
    return undefined
  }
  request.log.info({ user, session: shortId(id), reason: result.reason }, 'login refused: over the limit (reject-new)')
  state.answered = true
  return replaceWithEnded(ctx, request, reply, payload, 'concurrent_login_limit')
}
