import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { deviceStillHoldsCookie, type EndedBy, type EndReason, type SessionRecord } from '../domain/session.js'
import { errors } from '../errors.js'
import { prefersHtml } from '../http/accept.js'
import { urlSessionValues } from '../http/cookies.js'
import { setCookieName } from '../http/set-cookie.js'
import type { GatewayContext } from './context.js'
import { requestAuthority } from './http2-request.js'
import { overHttps } from '../http/scheme.js'

/** The code in the body of the ended answer (`SESSIONCAP_ERR_SESSION_ENDED`), as the 409 of a pending session carries its own. */
const SESSION_ENDED_CODE = new errors.SESSION_ENDED().code

export interface EndedAnswer {
  status: number
  headers: Record<string, string | string[]>
  body: string
}

const ENDED_CODE = new errors.SESSION_ENDED().code
const PENDING = new errors.SESSION_PENDING()
const TOO_MANY = new errors.TOO_MANY_SESSIONS()

const BROWSER_TEXT: Record<EndReason, string> = {
  concurrent_login_limit: 'Your session has ended: this account signed in elsewhere.',
  logged_out: 'This session was signed out.',
  replaced: 'This session was replaced by a newer sign-in on this device.',
  login_not_identified: 'This sign-in could not be accepted.',
  login_not_recorded: 'This sign-in could not be completed. Please try again.',
  ended_by_user: 'This session was signed out from another device.',
  ended_by_admin: 'This session was signed out by an administrator.',
  login_cancelled: 'This sign-in was cancelled.'
}

/**
 * What a request carrying an ended session gets (and a login the gateway
 * refuses): browsers a 303 to the signed-out page (or `ended.redirect`),
 * other clients a 401 with a JSON reason. When the device still holds the
 * ended cookie, the answer clears it and every `alsoClear` cookie, with the
 * Path and Domain the app set them with.
 */
export function endedAnswer (ctx: GatewayContext, request: FastifyRequest, reason: EndReason, by?: EndedBy): EndedAnswer {
  const headers: Record<string, string | string[]> = { 'cache-control': 'no-store' }
  if (deviceStillHoldsCookie(reason)) headers['set-cookie'] = ctx.scopes.clearAll(overHttps(request))
  if (prefersHtml(request.headers)) {
    headers.location = ctx.pages.links.ended(reason, by)
    headers['content-type'] = 'text/plain; charset=utf-8'
    return { status: 303, headers, body: `${BROWSER_TEXT[reason]} (${ENDED_CODE})\n` }
  }
  headers['content-type'] = 'application/json; charset=utf-8'
  return { status: 401, headers, body: JSON.stringify({ error: 'session_ended', code: SESSION_ENDED_CODE, reason }) }
}

export function sendEnded (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, reason: EndReason, by?: EndedBy): FastifyReply {
  const answer = endedAnswer(ctx, request, reason, by)
  return reply.code(answer.status).headers(answer.headers).send(answer.body)
}

/**
 * A request of a session waiting for its user's choice (policy ask):
 * browsers go to the chooser (and come back to this page after), other
 * clients get a 409 saying where the choice is made.
 */
export function sendPending (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  void reply.header('cache-control', 'no-store')
  if (prefersHtml(request.headers)) {
    const next = request.method === 'GET' || request.method === 'HEAD' ? withoutSessionId(ctx, request.url) : undefined
    return reply.code(303).header('location', ctx.pages.links.chooser(next)).type('text/plain; charset=utf-8').send(`${PENDING.message} (${PENDING.code})\n`)
  }
  return reply.code(PENDING.statusCode).type('application/json; charset=utf-8').send(JSON.stringify({ error: 'session_pending', code: PENDING.code, choose: ctx.pages.links.chooser(undefined) }))
}

/**
 * Replaces a browser's login answer with a 303 to the chooser (policy ask):
 * the app's cookies are kept (the new session is the one that waits), the
 * rest of its answer goes. Where the app was sending the browser (its
 * Location, if on this site) is where the chooser sends it after.
 */
export function replaceWithChooser (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown): string {
  const header = reply.getHeader('set-cookie')
  // The new session cookie goes out (it is the session that waits); the
  // other cookies the gateway clears with a session (remember-me…) do not:
  // a sign-in nobody approved yet must not leave a way to make new sessions.
  const cookieName = ctx.config.session.cookie
  const cookies = (header === undefined ? [] : Array.isArray(header) ? header.map(String) : [String(header)])
    .filter((c) => { const name = setCookieName(c); return name === cookieName || !ctx.scopes.watches(name) })
  const next = withoutSessionId(ctx, sameSitePath(reply.getHeader('location'), requestAuthority(request)))
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(303).headers({ location: ctx.pages.links.chooser(next), 'cache-control': 'no-store', 'content-type': 'text/plain; charset=utf-8' })
  if (cookies.length > 0) void reply.header('set-cookie', cookies)
  return 'Signed in. This account is signed in on too many devices: choose which to sign out.\n'
}

/**
 * A login refused because the user is at the limit, for a client that cannot
 * be shown the chooser (policy ask, fallback reject-new): 409 with the
 * sessions it would have to end, so an API client can tell its user.
 */
export function replaceWithTooMany (ctx: GatewayContext, reply: FastifyReply, payload: unknown, limit: number, sessions: readonly SessionRecord[]): string {
  const secure = overHttps(reply.request)
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(TOO_MANY.statusCode).headers({ 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'set-cookie': ctx.scopes.clearAll(secure) })
  return JSON.stringify({
    error: 'too_many_sessions',
    code: TOO_MANY.code,
    message: TOO_MANY.message,
    reason: 'concurrent_login_limit',
    limit,
    sessions: sessions.map((r) => ({
      device: r.device ?? null,
      ip: r.ip ?? null,
      signedInAt: new Date(r.createdAt).toISOString(),
      lastUsedAt: new Date(r.lastUsedAt).toISOString()
    }))
  })
}

/** The path (and query) of a Location header if it points at this site; undefined otherwise. */
/** A destination that carries a session id in its URL is not one: it would end up in the chooser's link, and in logs. */
function withoutSessionId (ctx: GatewayContext, url: string | undefined): string | undefined {
  return url === undefined || urlSessionValues(url, ctx.config.session.cookie).length > 0 ? undefined : url
}

function sameSitePath (location: unknown, host: string | undefined): string | undefined {
  const value: unknown = Array.isArray(location) ? (location as unknown[])[0] : location
  if (typeof value !== 'string' || value === '') return undefined
  if (value.startsWith('/') && !value.startsWith('//')) return value
  try {
    const url = new URL(value)
    return host !== undefined && url.host === host ? `${url.pathname}${url.search}` : undefined
  } catch {
    return undefined
  }
}

/**
 * Replaces an answer the app already gave (inside onSend): its headers go,
 * its body stream is discarded, and the ended answer takes its place.
 */
export function replaceWithEnded (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown, reason: EndReason, by?: EndedBy): string {
  const answer = endedAnswer(ctx, request, reason, by)
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  reply.code(answer.status).headers(answer.headers)
  return answer.body
}

/** Replaces an answer the app already gave with a 503: the store could not record it (fail-closed). */
export function replaceWithUnavailable (reply: FastifyReply, payload: unknown, err: { code: string, message: string } = new errors.STORE_UNAVAILABLE()): string {
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
  discard(payload)
  // A full store frees up as endings age out (minutes at the soonest); an outage is usually shorter.
  const retryAfter = err.code === 'SESSIONCAP_ERR_STORE_FULL' ? '60' : '5'
  reply.code(503).headers({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'retry-after': retryAfter })
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

/** Drops an answer's body from the app that will not be sent (its connection to the app is freed). */
export function discard (payload: unknown): void {
  if (payload instanceof Readable) {
    // Destroying an unfinished undici body emits an abort error; nobody else
    // listens to this stream any more, so without a listener it would crash
    // the process.
    payload.on('error', () => {})
    payload.destroy()
  }
}
