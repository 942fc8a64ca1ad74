import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { deviceStillHoldsCookie, type EndReason } from '../domain/session.js'
import { errors } from '../errors.js'
import { prefersHtml } from '../http/accept.js'
import type { GatewayContext } from './context.js'

export interface EndedAnswer {
  status: number
  headers: Record<string, string | string[]>
  body: string
}

const ENDED_CODE = new errors.SESSION_ENDED().code

const BROWSER_TEXT: Record<EndReason, string> = {
  concurrent_login_limit: 'Your session has ended: this account signed in elsewhere.',
  logged_out: 'This session was signed out.',
  replaced: 'This session was replaced by a newer sign-in on this device.',
  login_not_identified: 'This sign-in could not be accepted.',
  login_not_recorded: 'This sign-in could not be completed. Please try again.'
}

/**
 * What a request carrying an ended session gets (and a login the gateway
 * refuses): browsers a 303 to `ended.redirect`, other clients a 401 with a
 * JSON reason. When the device still holds the ended cookie, the answer
 * clears it and every `alsoClear` cookie, with the Path and Domain the app
 * set them with.
 */
export function endedAnswer (ctx: GatewayContext, request: FastifyRequest, reason: EndReason): EndedAnswer {
  const headers: Record<string, string | string[]> = { 'cache-control': 'no-store' }
  if (deviceStillHoldsCookie(reason)) headers['set-cookie'] = ctx.scopes.clearAll()
  if (prefersHtml(request.headers)) {
    headers.location = ctx.config.ended.redirect
    headers['content-type'] = 'text/plain; charset=utf-8'
    return { status: 303, headers, body: `${BROWSER_TEXT[reason]} (${ENDED_CODE})\n` }
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

/** Replaces an answer the app already gave with a 503: the store could not record it (fail-closed). */
export function replaceWithUnavailable (reply: FastifyReply, payload: unknown): string {
  const err = new errors.STORE_UNAVAILABLE()
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(503).headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'retry-after': '5' })
  return `${err.message} (${err.code})\n`
}

/** Replaces an answer that broke while the gateway read it with a 502 (and none of its cookies). */
export function replaceWithBadGateway (reply: FastifyReply, payload: unknown): string {
  const err = new errors.UPSTREAM_UNREACHABLE()
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(502).headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
  return `${err.message} (${err.code})\n`
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
