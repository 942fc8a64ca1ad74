import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EndReason, SessionId } from '../domain/session.js'
import { cookieValues } from '../http/cookies.js'
import { normalizePath } from '../http/path.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { sendEnded } from './ended-answer.js'
import { kState } from './symbols.js'
import { errors } from '../errors.js'

/**
 * onRequest: the check every request passes before anything else happens to
 * it. It runs before the body is read (a refused request costs nothing more)
 * and also on WebSocket upgrades.
 *
 * Every value of the session cookie is judged (an app may read the first or
 * the last of duplicates): one ended value is enough to refuse.
 */
export function sessionCheck (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return async function checkSession (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const path = normalizePath(request.url)
    const state: RequestState = {
      carried: [],
      login: ctx.routes.login(request.method, path),
      logout: ctx.routes.logout(request.method, path),
      user: undefined,
      strip: undefined,
      answered: false
    }
    request[kState] = state
    const values = cookieValues(request.headers.cookie, cookieName)
    if (values.length === 0) return undefined

    const now = ctx.now()
    let endedReason: EndReason | undefined
    let ended: string[] | undefined
    try {
      for (const value of values) {
        const id = ctx.hash(value)
        const found = await ctx.store.check(id, now)
        if (found.state === 'live') {
          state.carried.push(id)
        } else if (found.state === 'idle') {
          // It stopped counting while unused; coming back, it is admitted again
          // like a login of its user, so the limit still holds.
          if (await revive(ctx, id, found.user, now)) state.carried.push(id)
          else { endedReason = 'concurrent_login_limit'; (ended ??= []).push(value) }
        } else if (found.state === 'ended') {
          endedReason = found.reason;
          (ended ??= []).push(value)
        }
      }
    } catch (err) {
      // Without the store the gateway cannot vouch for this session: refuse
      // rather than let a possibly ended one through.
      state.answered = true
      request.log.error({ err }, 'session store failed while checking a request')
      throw new errors.STORE_UNAVAILABLE({ cause: err })
    }
    if (ended === undefined || endedReason === undefined) return undefined

    // On a login route's path (any method: the form page too) the ended cookie
    // is removed instead of refused, so a browser can always sign in again,
    // even if clearing its cookie failed. The app still never sees the session.
    if (ctx.routes.isLoginPath(path)) {
      state.strip = new Set(ended)
      return undefined
    }
    state.answered = true
    request.log.info({ sessions: ended.map((v) => shortId(ctx.hash(v))), reason: endedReason }, 'refused a request carrying an ended session')
    return sendEnded(ctx, request, reply, endedReason)
  }
}

async function revive (ctx: GatewayContext, id: SessionId, user: string, now: number): Promise<boolean> {
  const result = await ctx.store.admit({ user, id, now, limit: ctx.limitFor(user), policy: ctx.config.policy, replaces: [] })
  if (result.admitted) {
    if (result.ended.length > 0) {
      ctx.log.info({ user, session: shortId(id), ended: result.ended.map((r) => shortId(r.id)) }, 'idle session used again: admitted, ended others')
    }
    return true
  }
  ctx.log.info({ user, session: shortId(id) }, 'idle session used again: over the limit, ended')
  return false
}
