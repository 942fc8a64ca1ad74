import type { FastifyReply, FastifyRequest } from 'fastify'
import { redactUrlSession } from './log.js'
import type { GatewayContext } from './context.js'
import { kState } from './symbols.js'

/**
 * `log.access: true`: one line per request the gateway answered or proxied,
 * once its answer is sent — method, path (session ids in the URL masked),
 * status, duration, and the user when the gateway knows it (the session the
 * request carried, or the login it made). Never a cookie.
 */
export function accessLog (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return function logAccess (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    const state = request[kState]
    const user = state?.holder?.owner ?? (state?.loggedIn === true ? state.user : undefined)
    request.log.info({
      method: request.method,
      path: redactUrlSession(request.url, cookieName),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ...(user === undefined ? {} : { user })
    }, 'access')
    done()
  }
}
