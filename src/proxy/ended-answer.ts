import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { EndReason } from '../domain/session.js'
import { prefersHtml } from '../http/accept.js'
import type { GatewayContext } from './context.js'

export interface EndedAnswer {
  status: number
  headers: Record<string, string | string[]>
  body: string
}

/**
 * What a request carrying an ended session gets (and a login that
 * `reject-new` refused): browsers a 303 to `ended.redirect`, other clients a
 * 401 with a JSON reason. Both clear the session cookie and every `alsoClear`
 * cookie, with the Path and Domain the app set them with.
 */
export function endedAnswer (ctx: GatewayContext, request: FastifyRequest, reason: EndReason): EndedAnswer {
  const headers: Record<string, string | string[]> = {
    'set-cookie': ctx.scopes.clearAll(),
    'cache-control': 'no-store'
  }
  if (prefersHtml(request.headers)) {
    headers.location = ctx.config.ended.redirect
    headers['content-type'] = 'text/plain; charset=utf-8'
    return { status: 303, headers, body: 'Your session has ended: this account signed in elsewhere.\n' }
  }
  headers['content-type'] = 'application/json; charset=utf-8'
  return { status: 401, headers, body: JSON.stringify({ error: 'session_ended', reason }) }
}

export function sendEnded (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, reason: EndReason): FastifyReply {
  const answer = endedAnswer(ctx, request, reason)
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

/**
 * Replaces an answer the app already gave (inside onSend): its headers go,
 * its body stream is discarded, and the ended answer takes its place.
 */
export function replaceWithEnded (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown, reason: EndReason): string {
  const answer = endedAnswer(ctx, request, reason)
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(answer.status).headers(answer.headers)
  return answer.body
}

function discard (payload: unknown): void {
  if (payload instanceof Readable) {
    // Destroying an unfinished undici body emits an abort error; nobody else
    // listens to this stream any more, so without a listener it would crash
    // the process.
    payload.on('error', () => {})
    payload.destroy()
  }
}
