import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import type { UpstreamLogoutConfig } from '../config/schema.js'
import type { EndReason, SessionId } from '../domain/session.js'
import { cookieValues, withOnlyValue } from '../http/cookies.js'
import type { GatewayContext } from './context.js'
import { shortId } from './context.js'
import { observedOnly } from '../sessions/actions.js'
import { whoamiContext } from './upstream.js'

/**
 * `ended.upstreamLogout`: a session ended at the gateway still lives inside
 * the app until it expires there. On the first request that carries an ended
 * session's cookie, the app's own logout is sent with that request's cookies,
 * so the app destroys its session too. The cookie is used in flight only:
 * what is remembered is the session's keyed hash.
 */

/** Ended sessions remembered as already logged out of the app (per gateway). */
const REMEMBERED = 100_000
/**
 * Most replays under way at once. Beyond, a replay is not started (nor
 * remembered: the next request with that cookie tries again), so a burst of
 * ended cookies cannot multiply the load on the app without bound.
 */
const MAX_IN_FLIGHT = 16

/** Headers that describe the message's framing: ours to set, never the configuration's. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect'])

/** `{cookie:NAME}` (as the browser sent it) or `{cookie-decoded:NAME}` (percent-decoded, as a page's script reads it). */
const PLACEHOLDER = /\{cookie(-decoded)?:([^{}]+)\}/g

/** What the judging of a request found ended: a value as written, where it came from, why it ended. */
export interface EndedCookie {
  value: string
  /** Its keyed hash, as the check computed it. */
  id: SessionId
  reason: EndReason
  fromUrl: boolean
}

export interface LogoutRequest {
  method: string
  path: string
  headers: Record<string, string>
  body: string | undefined
}

/** The gateway's memory of replays made, and the connections it opens for them. */
export class LogoutReplays {
  readonly #origin: string
  readonly #https: boolean
  // Made on first use: most gateways never configure a replay.
  #replayed: LRUCache<SessionId, true> | undefined
  #inFlight = 0

  constructor (upstream: string) {
    const base = new URL(upstream)
    this.#origin = base.origin
    this.#https = base.protocol === 'https:'
  }

  has (id: SessionId): boolean {
    return this.#replayed?.has(id) === true
  }

  /** Takes the replay of this session on: false when one is made already, or too many are under way. */
  claim (id: SessionId): boolean {
    if (this.has(id) || this.#inFlight >= MAX_IN_FLIGHT) return false
    this.#replayed ??= new LRUCache<SessionId, true>({ max: REMEMBERED })
    this.#replayed.set(id, true)
    return true
  }

  /** Sends the logout; resolves with the app's status, rejects on a network error or after `timeoutMs`. */
  async send (r: LogoutRequest, timeoutMs: number): Promise<number> {
    this.#inFlight++
    try {
      // Concatenated, not resolved against the origin: a path like //host must not leave the app.
      return await sendOnce(this.#https, new URL(this.#origin + r.path), r, timeoutMs)
    } finally {
      this.#inFlight--
    }
  }
}

function sendOnce (https: boolean, url: URL, r: LogoutRequest, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = https ? httpsRequest : httpRequest
    // A connection of its own, closed afterwards (`agent: false`): replays are rare, and none stays open to the app.
    const req = request(url, { method: r.method, headers: r.headers, agent: false }, (res) => {
      resolve(res.statusCode ?? 0)
      // Only the status matters; the rest is read (within the timer) so the app is not cut off mid-answer.
      res.on('error', () => { /* the outcome is known already */ })
      res.resume()
    })
    // One bound for the whole exchange, not per socket inactivity.
    const timer = setTimeout(() => { req.destroy(new Error(`no answer within ${timeoutMs} ms`)) }, timeoutMs)
    timer.unref()
    req.on('close', () => { clearTimeout(timer) })
    req.on('error', reject)
    req.end(r.body)
  })
}

/**
 * Called by the session check with what it found ended: replays the app's
 * logout for each session (once per gateway), without waiting for it. Never
 * throws and never delays the request; the outcome goes to the log and the
 * audit trail.
 */
export function replayUpstreamLogouts (ctx: GatewayContext, request: FastifyRequest, ended: readonly EndedCookie[]): void {
  const conf = ctx.config.ended.upstreamLogout
  const replays = ctx.logoutReplays
  const header = request.headers.cookie
  if (conf === undefined || replays === undefined || header === undefined || ended.length === 0) return
  for (const e of ended) {
    // logged_out: the app destroyed that session itself. A value in the URL is
    // not among the request's cookies, which are what the app's logout reads.
    if (e.fromUrl || e.reason === 'logged_out') continue
    try {
      replayOne(ctx, request, conf, replays, header, e)
    } catch (err) {
      request.log.warn({ err }, 'ended.upstreamLogout: the logout could not be sent')
    }
  }
}

function replayOne (ctx: GatewayContext, request: FastifyRequest, conf: UpstreamLogoutConfig, replays: LogoutReplays, header: string, e: EndedCookie): void {
  const id = e.id
  if (replays.has(id)) return
  const session = shortId(id)
  // Observe mode enforces none of the gateway's own decisions: the app's
  // session is left alone too. A person's act (user, administrator) is
  // enforced in observe mode as well, and so is its replay.
  if (observedOnly(ctx, e.reason)) {
    request.log.info({ session, reason: e.reason }, 'observe: would log the session out of the app')
    return
  }
  if (!replays.claim(id)) {
    ctx.warnEveryMinute('upstream-logout-busy', { max: MAX_IN_FLIGHT }, 'ended.upstreamLogout: too many logouts under way; this one is tried again on the session\'s next request')
    return
  }
  const cookies = withOnlyValue(header, ctx.config.session.cookie, e.value)
  const presented = whoamiContext(ctx, request, cookies).headers
  // What a browser's own logout form would carry: Django's CSRF check wants a
  // same-origin Referer on HTTPS. (Without a Host, as HTTP/1.0 allows, none.)
  if (typeof request.host === 'string' && request.host !== '') presented.referer = `${request.protocol}://${request.host}/`
  const log = request.log
  void replays.send(logoutRequest(conf, cookies, presented), conf.timeout)
    .then((status) => {
      if (status >= 200 && status < 400) {
        log.info({ session, status }, 'ended.upstreamLogout: the app logged the ended session out')
        ctx.events.emit({ type: 'upstream_logout', session: id, outcome: 'done', status })
      } else {
        log.warn({ session, status }, 'ended.upstreamLogout: the app refused the logout')
        ctx.events.emit({ type: 'upstream_logout', session: id, outcome: 'failed', status })
      }
    }, (err: unknown) => {
      const error = err instanceof Error ? err.message : String(err)
      log.warn({ session, error }, 'ended.upstreamLogout: the logout failed')
      ctx.events.emit({ type: 'upstream_logout', session: id, outcome: 'failed', error })
    })
    .catch((err: unknown) => { ctx.log.error({ err }, 'ended.upstreamLogout: reporting the outcome failed') })
}

/**
 * The logout as the app receives it: the configured method, path, headers
 * and body, `{cookie:NAME}` taken from `cookies`, presented as the browser
 * (`presented`: Host, User-Agent, X-Forwarded-*…) with those cookies.
 */
export function logoutRequest (conf: UpstreamLogoutConfig, cookies: string, presented: Readonly<Record<string, string>>): LogoutRequest {
  const headers: Record<string, string> = { ...presented, accept: '*/*', cookie: cookies }
  for (const [name, template] of Object.entries(conf.headers)) {
    const lower = name.toLowerCase()
    if (!FRAMING.has(lower)) headers[lower] = fill(template, cookies, headerSafe)
  }
  const body = conf.body === undefined ? undefined : fill(conf.body, cookies, encodeURIComponent)
  if (body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded'
  headers['content-length'] = String(Buffer.byteLength(body ?? ''))
  return { method: conf.method, path: conf.path, headers, body }
}

/**
 * `{cookie:NAME}` replaced by the first value of that cookie, as written
 * (missing: empty); `{cookie-decoded:NAME}` by the value percent-decoded, the
 * way a page's script reads a cookie before sending it in a header (axios
 * and Laravel's XSRF-TOKEN; a value that does not decode gives nothing).
 * Either is then made safe by `escape`.
 */
function fill (template: string, cookies: string, escape: (value: string) => string): string {
  return template.replace(PLACEHOLDER, (_m, decoded: string | undefined, name: string) => {
    const value = cookieValues(cookies, name)[0] ?? ''
    return escape(decoded === undefined ? value : percentDecoded(value))
  })
}

function percentDecoded (value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return ''
  }
}

/**
 * A cookie value put into a header: printable ASCII only, else nothing. A
 * value is never trusted to be a valid header value (a CR or LF would start
 * a header of the client's choosing); a token the app issued needs nothing else.
 */
function headerSafe (value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : ''
}
