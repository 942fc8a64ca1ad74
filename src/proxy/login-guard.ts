import type { FastifyReply, FastifyRequest } from 'fastify'
import { shortId } from '../domain/session.js'
import { errors, isStoreUnavailable } from '../errors.js'
import { prefersHtml } from '../http/accept.js'
import { clientOf } from '../http/client.js'
import type { AttemptDecision, LoginTicket, Outcome, SettleReport } from '../guard/index.js'
import { guardEnforced } from '../guard/rules.js'
import type { GatewayContext, RequestState } from './context.js'
import type { LoginRoute } from './routes.js'

/**
 * The login guard's two points in the proxy (the guard itself, src/guard/,
 * knows no HTTP; docs/guard.md):
 *
 * 1. `guardAttempt`, in the login route's preHandler once the user is read
 *    and before anything reaches the app: a refused attempt is answered 429
 *    here; an allowed one is charged, and its ticket rides on the request.
 * 2. `guardSettle`, in the response watcher once the app's answer is
 *    classified (`outcome`), or when the client leaves first (neutral): the
 *    charges are kept, cleared or refunded, in the background — the answer
 *    does not wait for it — and a success from a browser gets the device
 *    cookie.
 */

/** The guard's part of a login request, from the attempt until it is settled. */
export interface GuardedAttempt {
  ticket: LoginTicket
  /** The user as the request names it (for the audit trail, never the store); undefined: nobody the gateway could read. */
  user: string | undefined
  settled: boolean
}

const TOO_MANY_ATTEMPTS = new errors.TOO_MANY_ATTEMPTS()

/**
 * Judges a login attempt before it is forwarded. Returns true when the
 * request was answered here (refused). Without a promise when the guard's
 * store never waits (memory): every login takes this step.
 */
export function guardAttempt (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, state: RequestState, user: string | undefined): boolean | Promise<boolean> {
  const guard = ctx.guard
  const route = state.login
  if (guard === undefined || route === undefined || ctx.config.guard === false) return false
  const token = ctx.config.guard.device === false ? undefined : state.deviceToken
  // A client that leaves before its answer proved nothing: its charges are
  // refunded. Listened for from before the charge (a client may leave while
  // it is made), and whatever the protocol: a settle that came first (the
  // answer's own) makes this one do nothing.
  const watch: GoneWatch = { gone: false }
  // (`on`, not `once`: 'close' comes once, and `once` wraps every listener in two more objects.)
  reply.raw.on('close', () => {
    watch.gone = true
    if (state.guard?.settled === false) guardSettle(ctx, request, reply, state, 'neutral')
  })
  let decision: AttemptDecision | Promise<AttemptDecision>
  try {
    decision = guard.attempt({ user, caseInsensitive: route.config.caseInsensitive, address: request.ip, deviceToken: token, now: ctx.now() })
  } catch (err) {
    return unguarded(ctx, state, err)
  }
  if (decision instanceof Promise) {
    return decision.then((d) => judged(ctx, request, reply, state, route, user, d, watch), (err: unknown) => unguarded(ctx, state, err))
  }
  return judged(ctx, request, reply, state, route, user, decision, watch)
}

/** Whether the client left while the attempt was being charged. */
interface GoneWatch {
  gone: boolean
}

/** The guard's store is out: the store logs the outage once. fail-open: the login goes on, unguarded; fail-closed: 503, as for sessions. */
function unguarded (ctx: GatewayContext, state: RequestState, err: unknown): false {
  if (!isStoreUnavailable(err)) throw err
  ctx.events.emit({ type: 'login_attempt', result: 'unguarded' })
  if (ctx.config.store.onError === 'fail-open') return false
  state.answered = true
  throw err
}

function judged (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, state: RequestState, route: LoginRoute, user: string | undefined, decision: AttemptDecision, watch: GoneWatch): boolean {
  if (decision.allowed) {
    state.guard = { ticket: decision.ticket, user, settled: false }
    if (watch.gone) guardSettle(ctx, request, reply, state, 'neutral')
    return false
  }
  if (!guardEnforced(ctx.config)) {
    // Nothing was charged for it: it goes on, and is not settled.
    ctx.events.emit({ type: 'login_attempt', result: 'would_refuse' })
    request.log.info({ route: route.config.path, refusedBy: decision.refusedBy, retryAfter: decision.retryAfter, device: decision.device }, 'observe: would refuse this login attempt (too many failures)')
    return false
  }
  ctx.events.emit({ type: 'login_attempt', result: 'refused' })
  // Which counter refused, and whether the user exists, stay in the log: the answer is the same for all (keycloak#20651).
  request.log.info({ route: route.config.path, refusedBy: decision.refusedBy, blocked: decision.blocked, device: decision.device, ip: request.ip }, 'login attempt refused: too many failures')
  state.answered = true
  sendTooManyAttempts(ctx, request, reply, decision.retryAfter)
  return true
}

/**
 * What the app's answer to a guarded login means: a login by the route's own
 * rules is a success, a 5xx (the gateway's 502/504 included) proved nothing,
 * and anything else below 500 failed (a form shown again, a 401, a redirect
 * back to the form, no new session cookie).
 */
export function classifyAnswer (status: number, loggedIn: boolean): Outcome {
  if (status >= 500) return 'neutral'
  return loggedIn ? 'success' : 'failure'
}

/**
 * Settles a guarded attempt once (later calls do nothing): the store's step
 * runs in the background; a success delivered as the app's own answer, to a
 * browser without a valid device cookie (or with one to renew), gets one now.
 */
export function guardSettle (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, state: RequestState, outcome: Outcome): void {
  const attempt = state.guard
  const guard = ctx.guard
  if (attempt === undefined || attempt.settled || guard === undefined) return
  attempt.settled = true
  const now = ctx.now()
  ctx.events.emit({ type: 'login_attempt', result: outcome })
  const enforced = guardEnforced(ctx.config)
  if (outcome === 'failure') ctx.events.emit({ type: 'login_failed', user: attempt.user, client: clientOf(request), enforced })
  // Only with the app's own answer: one the gateway replaced (a login refused
  // by the limit, say) carries none of the gateway's cookies either.
  if (outcome === 'success' && !state.answered && !reply.raw.headersSent) setDeviceCookie(ctx, request, reply, attempt.ticket, now)
  const failed = (err: unknown): void => {
    // Its charges are dropped at guard.inFlightTimeout; an outage is logged once by the store.
    if (!isStoreUnavailable(err)) request.log.error({ err, ticket: shortId(attempt.ticket.id) }, 'login guard: could not settle an attempt')
  }
  let report: SettleReport | Promise<SettleReport>
  try {
    report = guard.settle(attempt.ticket, outcome, now)
  } catch (err) {
    failed(err)
    return
  }
  if (report instanceof Promise) report.then((r) => { reportBlocks(ctx, request, attempt, r, enforced) }, failed)
  else reportBlocks(ctx, request, attempt, report, enforced)
}

/** The blocks a settled attempt tripped: logged and audited (`login_blocked`). */
function reportBlocks (ctx: GatewayContext, request: FastifyRequest, attempt: GuardedAttempt, report: SettleReport, enforced: boolean): void {
  if (report.blocks.length === 0) return
  const client = clientOf(request)
  for (const b of report.blocks) {
    ctx.events.emit({ type: 'login_blocked', counter: b.counter, user: b.counter === 'network' ? undefined : attempt.user, client, until: new Date(b.until).toISOString(), failures: b.failures, times: b.times, enforced })
    request.log.warn({ counter: b.counter, until: new Date(b.until).toISOString(), failures: b.failures, times: b.times, ip: client?.ip }, enforced ? 'login guard: blocked after too many failures' : 'observe: the login guard would block after too many failures')
  }
}

/**
 * The device cookie: which browser signed in as whom, so that an attacker
 * who blocks the user's counter from elsewhere does not lock the user out on
 * their own device (docs/guard.md). Set after a success only when the browser
 * lacks a valid one for this user, or holds one due for renewal.
 */
function setDeviceCookie (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, ticket: LoginTicket, now: number): void {
  const guard = ctx.guard
  const config = ctx.config.guard
  if (guard === undefined || config === false || config.device === false) return
  if (ticket.unnamed || (ticket.deviceId !== undefined && !ticket.renewDevice)) return
  // Written as @fastify/cookie's serializer writes it, without its checks and
  // encoding on every login: the name is a token (the schema checks it), the
  // value is made of token characters (device-token.ts).
  const cookie = `${config.device.cookie}=${guard.deviceToken(ticket, now)}; Max-Age=${Math.floor(config.device.maxAge / 1000)}; Path=/; HttpOnly; ${request.protocol === 'https' ? 'Secure; ' : ''}SameSite=Lax`
  // Appended to the app's own Set-Cookie headers (reply.header adds a set-cookie rather than replacing it).
  void reply.header('set-cookie', cookie)
}

/**
 * The answer to a refused attempt, the same whoever the user is and
 * whichever counter refused: 429 with Retry-After; browsers a page in the
 * style and with the headers of the gateway's other pages, other clients a
 * JSON body.
 */
export function sendTooManyAttempts (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, retryAfter: number): FastifyReply {
  void reply.code(429).header('retry-after', String(retryAfter))
  if (prefersHtml(request.headers)) {
    const minutes = Math.max(1, Math.ceil(retryAfter / 60))
    const html = ctx.pages.templates.render('blocked', {
      heading: 'Too many sign-in attempts',
      title: ctx.config.pages.title,
      wait: minutes === 1 ? '1 minute' : `${minutes} minutes`,
      signIn: ctx.pages.signIn
    })
    return reply.headers(ctx.pages.headers).type('text/html; charset=utf-8').send(html)
  }
  return reply.header('cache-control', 'no-store').type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: 'too_many_attempts', code: TOO_MANY_ATTEMPTS.code, retryAfter }))
}
