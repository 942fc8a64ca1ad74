import type { FastifyReply, FastifyRequest } from 'fastify'
import { parseSetCookie, setCookieName, type SetCookie } from '../http/set-cookie.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { replaceWithEnded } from './ended-answer.js'
import { kState } from './symbols.js'

/**
 * onSend: what the app's answer means for the sessions. Fastify runs this
 * after reply-from has copied the app's headers and before a byte is written,
 * and (unlike reply-from's own header hooks) it may be async, so the store can
 * be asked here. The answer's body is a stream that is not touched, except
 * when a refused login replaces the whole answer.
 *
 * Read in the order a browser applies them, the app's Set-Cookie headers say:
 * - a logout route answered with success: the carried sessions are freed;
 * - the session cookie was cleared (any route): same;
 * - a new session cookie on a login route that succeeded: a login — admitted
 *   under the limit, or refused by `reject-new`;
 * - a new session cookie for a request that carried a tracked session, on any
 *   other route: the app rotated the id, and the new one keeps the slot.
 */
export function responseWatch (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return async function watchResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const state = request[kState]
    if (state == null || state.answered) return payload
    const now = ctx.now()
    const session = sessionSetCookie(ctx, reply, cookieName, now)
    try {
      const replaced = await applyAnswer(ctx, request, reply, payload, state, session, now)
      if (replaced !== undefined) return replaced
    } catch (err) {
      // The app's answer is delivered regardless; a store failure must not eat it.
      request.log.error({ err }, 'could not record what the app answered')
    }
    if (state.strip !== undefined && session === undefined) {
      // The browser still holds the ended cookie: ask it to drop it.
      void reply.header('set-cookie', ctx.scopes.clearAll())
    }
    return payload
  }
}

/** The last Set-Cookie of the session cookie (the one the browser ends up with); learns cookie scopes on the way. */
function sessionSetCookie (ctx: GatewayContext, reply: FastifyReply, cookieName: string, now: number): SetCookie | undefined {
  const header = reply.getHeader('set-cookie')
  if (header === undefined) return undefined
  const list = Array.isArray(header) ? header : [String(header)]
  let session: SetCookie | undefined
  for (const h of list) {
    if (!ctx.scopes.watches(setCookieName(h))) continue
    const c = parseSetCookie(h, now)
    if (c === undefined) continue
    ctx.scopes.learn(c)
    if (c.name === cookieName) session = c
  }
  return session
}

async function applyAnswer (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown,
  state: RequestState, session: SetCookie | undefined, now: number
): Promise<string | undefined> {
  const status = reply.statusCode
  if (state.logout?.accepts(status) === true || session?.clears === true) {
    if (state.carried.length > 0) {
      const freed = await ctx.store.release(state.carried, now)
      request.log.info({ sessions: state.carried.map(shortId), freed }, 'logout: session slot freed')
    }
    return undefined
  }
  if (session === undefined) return undefined

  const id = ctx.hash(session.value)
  if (state.login?.accepts(status) === true) {
    const user = state.user
    if (user === undefined) {
      request.log.warn({ route: state.login.config.path, from: state.login.identity.describe }, 'login succeeded but the user could not be read from the request; not counted')
      return undefined
    }
    const result = await ctx.store.admit({
      user, id, now, limit: ctx.limitFor(user), policy: ctx.config.policy, replaces: state.carried
    })
    if (result.admitted) {
      request.log.info({ user, session: shortId(id), ended: result.ended.map((r) => shortId(r.id)) }, 'login admitted')
      return undefined
    }
    request.log.info({ user, session: shortId(id), reason: result.reason }, 'login refused: over the limit (reject-new)')
    state.answered = true
    return replaceWithEnded(ctx, request, reply, payload, 'concurrent_login_limit')
  }

  const from = state.carried[0]
  if (from !== undefined && !state.carried.includes(id)) {
    const result = await ctx.store.rotate(from, id, now)
    if (result.rotated) request.log.debug({ from: shortId(from), to: shortId(id) }, 'session id rotated by the app')
    else if (result.ended) request.log.info({ from: shortId(from), to: shortId(id) }, 'session rotated after it was ended: the new id is ended too')
  }
  return undefined
}
