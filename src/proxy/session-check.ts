import type { FastifyReply, FastifyRequest } from 'fastify'
import { deviceStillHoldsCookie, type EndReason, type SessionId } from '../domain/session.js'
import { errors } from '../errors.js'
import { cookieValues, urlSessionValues } from '../http/cookies.js'
import { normalizePath } from '../http/path.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { sendEnded } from './ended-answer.js'
import { kState } from './symbols.js'

/**
 * onRequest: the check every request passes before anything else happens to
 * it. It runs before the body is read (a refused request costs nothing more)
 * and also on WebSocket upgrades.
 *
 * Every value of the session cookie is judged (an app may read the first or
 * the last of duplicates), and so are session ids carried in the URL: one
 * ended value is enough to refuse.
 */
export function sessionCheck (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return async function checkSession (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const path = normalizePath(request.url)
    // HEAD is answered like GET by apps, including the session cookie a GET login route sets.
    const method = request.method === 'HEAD' ? 'GET' : request.method
    const state: RequestState = {
      carried: [],
      carriedIds: new Set(),
      ambiguous: false,
      login: ctx.routes.login(method, path),
      logout: ctx.routes.logout(method, path),
      user: undefined,
      strip: undefined,
      answered: false
    }
    request[kState] = state
    const values = cookieValues(request.headers.cookie, cookieName)
    const inUrl = urlSessionValues(request.url, cookieName)
    if (values.length === 0 && inUrl.length === 0) return undefined

    const now = ctx.now()
    const ended: Array<{ value: string, reason: EndReason, fromUrl: boolean }> = []
    try {
      // One store lookup per distinct id; every spelling of an ended id is recorded (to be stripped or refused).
      const seen = new Map<SessionId, EndReason | undefined>()
      for (const [i, value] of [...values, ...inUrl].entries()) {
        const fromUrl = i >= values.length
        const id = ctx.hash(value)
        if (!fromUrl) state.carriedIds.add(id)
        if (seen.has(id)) {
          const reason = seen.get(id)
          if (reason !== undefined) ended.push({ value, reason, fromUrl })
          continue
        }
        const found = await ctx.store.check(id, now)
        let reason: EndReason | undefined
        if (found.state === 'ended') {
          reason = found.reason
        } else if (found.state !== 'unknown' && !fromUrl) {
          // An idle session stopped counting while unused; coming back, it is
          // admitted again like a login of its user, so the limit still holds.
          const live = found.state === 'live' || await revive(ctx, found.slot, found.user, now)
          if (!live) reason = 'concurrent_login_limit'
          else if (!state.carried.includes(found.slot)) state.carried.push(found.slot)
        }
        seen.set(id, reason)
        if (reason !== undefined) ended.push({ value, reason, fromUrl })
      }
    } catch (err) {
      // Without the store the gateway cannot vouch for this session: refuse
      // rather than let a possibly ended one through.
      state.answered = true
      request.log.error({ err }, 'session store failed while checking a request')
      throw new errors.STORE_UNAVAILABLE({ cause: err })
    }
    state.ambiguous = state.carriedIds.size > 1

    if (ended.length === 0) {
      if (request.headers.upgrade !== undefined) ctx.sockets.noteUpgrade(request.raw.socket, state.carried)
      return undefined
    }

    // On a login route's path (any method: the form page too) an ended cookie
    // is removed instead of refused, so a browser can always sign in again,
    // even if clearing its cookie failed. The app still never sees the session.
    if (ctx.routes.isLoginPath(path) && ended.every((e) => !e.fromUrl)) {
      state.strip = new Set(ended.map((e) => e.value))
      return undefined
    }
    state.answered = true
    // If any of them is still held by the device, the answer clears it.
    const reason = ended.find((e) => deviceStillHoldsCookie(e.reason))?.reason ?? (ended[0] as { reason: EndReason }).reason
    request.log.info({ sessions: ended.map((e) => shortId(ctx.hash(e.value))), reason }, 'refused a request carrying an ended session')
    return sendEnded(ctx, request, reply, reason)
  }
}

async function revive (ctx: GatewayContext, id: SessionId, user: string, now: number): Promise<boolean> {
  const result = await ctx.store.admit({ user, id, now, limit: ctx.limitFor(user), policy: ctx.config.policy, replaces: [] })
  if (result.admitted) {
    if (result.ended.length > 0) {
      ctx.sockets.closeSessions(result.ended.map((r) => r.id))
      ctx.log.info({ user, session: shortId(id), ended: result.ended.map((r) => shortId(r.id)) }, 'idle session used again: admitted, ended others')
    }
    return true
  }
  ctx.log.info({ user, session: shortId(id) }, 'idle session used again: over the limit, ended')
  return false
}
