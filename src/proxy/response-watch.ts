import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { slotOwner } from '../domain/limits.js'
import { isStoreFull, isStoreUnavailable } from '../errors.js'
import { canonicalCookieName } from '../http/cookies.js'
import { parseSetCookie, setCookieName, type SetCookie } from '../http/set-cookie.js'
import { BrowserCookieJar } from '../http/browser-cookies.js'
import { decodedBody } from '../identity/body-text.js'
import { identified, type Found, type IdentityStrategy, type LoginAnswer } from '../identity/index.js'
import { whoamiContext } from './upstream.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { discard, replaceWithBadGateway, replaceWithChooser, replaceWithEnded, replaceWithTooMany, replaceWithUnavailable } from './ended-answer.js'
import { prefersHtml } from '../http/accept.js'
import type { LoginRoute } from './routes.js'
import { kState } from './symbols.js'
import { identify, IdentificationWindow, isRedirect, join, MAX_UNIDENTIFIED_REQUESTS, type Admit } from './identification.js'
import { identifyDeps, presentationOf } from './identify-hooks.js'
import type { SessionId } from '../domain/session.js'
import { classifyAnswer, guardSettle } from './login-guard.js'
import { admitSession, endSessions, isObserving } from '../sessions/actions.js'
import { clientOf } from '../http/client.js'
import { overHttps } from '../http/scheme.js'

/** Largest login answer read for `responseJson`; a larger one names nobody. */
const MAX_ANSWER_BYTES = 1024 * 1024

/** What the app's Set-Cookie headers did to the session cookie, as a browser reads them. */
interface SessionCookieChange {
  /** The value the browser ends up with, if any header left one (the last set, when several paths or domains hold one). */
  set: SetCookie | undefined
  /** Some header removed a session cookie, and the browser is left with none. */
  cleared: boolean
  /** Values the answer handed out that a browser does not keep (see endDropped). */
  dropped: DroppedValue[]
  /** All the answer's Set-Cookie headers, as sent. */
  all: string[]
}

interface DroppedValue {
  value: string
  /** `replaced`: a later header of the answer replaced or removed it; otherwise why a browser ignores the header. */
  why: 'replaced' | 'domain' | 'prefix'
  domain?: string
}

const NO_CHANGE: SessionCookieChange = { set: undefined, cleared: false, dropped: [], all: [] }

/** A login decided: who, in which scope and group. */
interface Login {
  user: string
  group: string | undefined
  scope: string | undefined
  /** For logs: how the user was found. */
  via: string
}

/**
 * onSend: what the app's answer means for the sessions. Fastify runs this
 * after reply-from has copied the app's headers and before a byte is written,
 * and (unlike reply-from's own header hooks) it may be async, so the store can
 * be asked here. The answer's body is a stream that is not touched, except
 * when it must be read to find the user (`responseJson`: the same bytes then
 * go to the client) or a refused login replaces the whole answer.
 *
 * - a logout route answered with success, or the session cookie was cleared
 *   (any route): the carried sessions are ended as logged out;
 * - a new session cookie on a login route that succeeded: a login, admitted
 *   under the limit, or refused (reject-new, or a user it cannot identify);
 * - a new session cookie for a request that carried a tracked session: the
 *   app rotated the id, and the new cookie is the same session;
 * - any other new session cookie, with `login: auto`: a login if whoami says
 *   someone is signed in with it.
 * None of these ever frees a slot by forgetting a session (see store.ts), so
 * they are safe even when a request carried several session cookies and the
 * gateway cannot know which one the app acted on.
 */
export function responseWatch (ctx: GatewayContext) {
  const watch = watchAnswer(ctx)
  // A callback hook: an answer that sets no cookie, to a request that is no
  // logout and had nothing to clear (nearly every answer), passes at once,
  // without a promise.
  return function watchResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: Error | null, value?: unknown) => void): void {
    const state = request[kState]
    // A request forwarded before its value's question that the gateway answered itself (502, 504…): no question after it.
    if (state?.identifying !== undefined && state.answered) endTurn(state)
    // A guarded login the gateway answered itself after forwarding it (502, 504): it proved nothing.
    if (state?.guard?.settled === false && state.answered) guardSettle(ctx, request, reply, state, 'neutral')
    if (state == null || state.answered || (state.guard === undefined && state.logout === undefined && !state.clearStripped && state.identifying === undefined && !reply.hasHeader('set-cookie'))) {
      done(null, payload)
      return
    }
    watch(request, reply, payload, state).then((value) => { done(null, value) }, (err: Error) => {
      // The error is answered instead of the app's body: dropped, not left holding its connection to the app.
      discard(payload)
      done(err)
    })
  }
}

function watchAnswer (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  return async function watchResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown, state: RequestState): Promise<unknown> {
    // The app's own status, before the gateway may replace its answer: what the login guard classifies.
    const appStatus = reply.statusCode
    try {
      return await decide(request, reply, payload, state)
    } finally {
      // Whatever went wrong, the turn of a request forwarded before its question is over.
      endTurn(state)
      // An answer the gateway replaced with an error of its own (503 store full, 502 unreadable) proved nothing either.
      if (state.guard !== undefined) guardSettle(ctx, request, reply, state, state.answered && reply.statusCode >= 500 ? 'neutral' : classifyAnswer(appStatus, state.loggedIn))
    }
  }

  async function decide (request: FastifyRequest, reply: FastifyReply, payload: unknown, state: RequestState): Promise<unknown> {
    const now = ctx.now()
    const change = sessionCookieChange(ctx, request, reply, cookieName, now)
    if (change.dropped.length > 0) await endDropped(ctx, request, state, change, now)
    const answer = { payload }
    try {
      const replaced = await applyAnswer(ctx, request, reply, answer, state, change, now)
      if (replaced !== undefined) return replaced
    } catch (err) {
      if (isStoreFull(err)) {
        // store.maxEnded reached: the new session was not recorded, and its
        // cookie must not reach the client (the store logs why, once a minute).
        state.answered = true
        request.log.warn({ code: (err as { code: string }).code }, 'sign-in refused: the store holds store.maxEnded ended sessions')
        return replaceWithUnavailable(reply, answer.payload, err as Error & { code: string })
      }
      if (!isStoreUnavailable(err)) {
        // The app's answer broke while being read, or the gateway failed (a
        // bug): a new session cookie must not reach the client unrecorded.
        // Refusing is what gets noticed; letting logins through uncounted
        // would not be.
        if (!(err instanceof AnswerReadError)) request.log.error({ err }, 'could not decide about the app\'s answer')
        if (change.set !== undefined) {
          state.answered = true
          ctx.store.end([ctx.hash(change.set.value)], 'login_not_identified', now).catch(() => {})
          return replaceWithBadGateway(reply, answer.payload)
        }
      }
      // fail-closed: a login (or a new cookie of a session) that cannot be
      // recorded is not let through: its cookie never reaches the client.
      // Otherwise the app's answer is delivered; the store logs the outage
      // once, and writes endings and rotations it missed when it is back.
      if (isStoreUnavailable(err) && ctx.config.store.onError === 'fail-closed' && change.set !== undefined && (isLogin(state, reply) || isRotation(ctx, state, change))) {
        state.answered = true
        ctx.store.end([ctx.hash(change.set.value)], 'login_not_recorded', now).catch(() => {})
        return replaceWithUnavailable(reply, answer.payload)
      }
    }
    if (state.clearStripped && change.set === undefined && !change.cleared) {
      // The browser still holds the ended cookie (and nothing else under its name): ask it to drop it.
      void reply.header('set-cookie', ctx.scopes.clearAll(overHttps(request)))
    }
    return answer.payload
  }
}

function isLogin (state: RequestState, reply: FastifyReply): boolean {
  return state.login?.accepts(reply.statusCode, location(reply)) === true
}

/** A new cookie for a session the request carried: under fail-closed, one the store cannot follow is not let out either. */
function isRotation (ctx: GatewayContext, state: RequestState, change: SessionCookieChange): boolean {
  return change.set !== undefined && state.carried.length > 0 && !state.carriedIds.has(ctx.hash(change.set.value))
}

function location (reply: FastifyReply): string | undefined {
  const v = reply.getHeader('location')
  return v === undefined ? undefined : String(Array.isArray(v) ? v[0] : v)
}

/**
 * Reads the session cookie's Set-Cookie headers as a browser's cookie store
 * would (see browser-cookies.ts), learning cookie scopes on the way: in
 * order, a later header for the same name, domain and path replacing an
 * earlier one, so a set then a clear leaves nothing and a clear then a set
 * leaves the value. A login is any header that leaves a value, even if
 * another one clears a cookie of the same name under another Path or
 * Domain: that is cleaning up. Runs only on answers that set cookies.
 */
function sessionCookieChange (ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, cookieName: string, now: number): SessionCookieChange {
  const header = reply.getHeader('set-cookie')
  if (header === undefined) return NO_CHANGE
  const all = Array.isArray(header) ? header.map(String) : [String(header)]
  // No host: the Domain is taken as given. The host the browser used is not
  // known here for sure (a proxy in front may rewrite Host), and refusing a
  // session a browser did keep would refuse every login of the app.
  const jar = new BrowserCookieJar({ host: '', path: requestPath(request.url) })
  const handedOut = new Set<string>()
  const dropped: DroppedValue[] = []
  let removed = false
  for (const h of all) {
    if (!ctx.scopes.watches(setCookieName(h))) continue
    const c = parseSetCookie(h, now)
    if (c === undefined) continue
    const step = jar.apply(c)
    if (step.kind === 'ignored') {
      if (c.name === cookieName && !c.clears) dropped.push({ value: c.value, why: step.why, domain: c.domain })
      continue
    }
    // With the path a browser stores it under (a cookie without Path lives at the default path).
    ctx.scopes.learn({ ...c, path: step.path })
    if (c.name !== cookieName) continue
    if (c.clears) removed = true
    else handedOut.add(c.value)
  }
  // An empty session cookie (Django's `sessionid=""`) is stored by a browser, but is no session.
  let set: SetCookie | undefined
  const kept = new Set<string>()
  for (const s of jar.stored()) {
    if (s.cookie.name !== cookieName || s.cookie.clears) continue
    set = s.cookie
    kept.add(s.cookie.value)
  }
  for (const value of handedOut) if (!kept.has(value)) dropped.push({ value, why: 'replaced' })
  return { set, cleared: removed && set === undefined, dropped, all }
}

/** The path of a request target, without its query: what a browser takes the default cookie path from. */
function requestPath (url: string): string {
  const end = url.search(/[?#]/)
  return end === -1 ? url : url.slice(0, end)
}

/**
 * Ends the session values an answer handed out that a browser does not
 * keep: one a later header of the same answer replaced or removed, or one in
 * a header a browser ignores. No browser ever sends them, and a client that
 * keeps one anyway (a script that reads the first Set-Cookie, or ignores
 * Domain) must not hold a session the gateway never counted. Values the
 * request carried are left to the logout and rotation rules: the app may be
 * re-sending the cookie it then rotates.
 *
 * In observe mode values of ignored headers are only reported, as every
 * decision of the gateway's own.
 */
async function endDropped (ctx: GatewayContext, request: FastifyRequest, state: RequestState, change: SessionCookieChange, now: number): Promise<void> {
  const ids = new Set<string>()
  for (const d of change.dropped) {
    const id = ctx.hash(d.value)
    if (state.carriedIds.has(id) || change.set?.value === d.value || ids.has(id)) continue
    if (d.why === 'prefix') {
      ctx.warnEveryMinute('set-cookie-prefix', {}, 'the app set a __Host-/__Secure- session cookie without the attributes the prefix requires: a browser ignores it, so it is not counted and its value is refused')
    }
    if (d.why !== 'replaced' && isObserving(ctx)) {
      request.log.info({ session: shortId(id), why: d.why }, 'observe: would refuse this session value (a browser ignores its Set-Cookie)')
      continue
    }
    ids.add(id)
  }
  if (ids.size === 0) return
  try {
    await ctx.store.end([...ids], 'logged_out', now)
    request.log.debug({ sessions: [...ids].map(shortId) }, 'session values the browser does not keep: ended')
  } catch (err) {
    request.log.warn({ err }, 'could not end the session values the browser does not keep')
  }
}

async function applyAnswer (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, answer: { payload: unknown },
  state: RequestState, change: SessionCookieChange, now: number
): Promise<string | undefined> {
  const status = reply.statusCode
  if (state.logout?.accepts(status) === true || change.cleared) {
    // A value of a window the app logged out or cleared: its window stays (an app may still accept the old value), its turn is over.
    endTurn(state)
    if (state.carried.length > 0) {
      // Ended, not forgotten: an app may still accept the old cookie (a
      // stateless cookie store cannot revoke it), and it must not come back.
      const ended = await endSessions(ctx, state.carried, 'logged_out', { client: clientOf(request) })
      request.log.info({ sessions: state.carried.map(shortId), ended: ended.length }, 'logout: session ended')
    }
    return undefined
  }
  const set = change.set
  if (set === undefined) {
    // A value forwarded before its question, and the app kept it: asked about now, or after the next request.
    const ident = state.identifying
    return ident === undefined ? undefined : await question(ctx, request, reply, answer, state, change, ident.value, ident.id, now)
  }
  const id = ctx.hash(set.value)
  const route = state.login

  if (route !== undefined && route.accepts(status, location(reply))) {
    // A login by the route's rules: identified by the route (and its whoami), not by a question of its own.
    endTurn(state)
    const login = await routeLogin(ctx, request, reply, answer, state, route, change, set.value)
    if (login === 'nobody') return undefined
    // A login by the route's own rules (and whoami's, where it is asked): a success for the login guard.
    state.loggedIn = true
    if (login !== undefined) return await admitLogin(ctx, request, reply, answer.payload, state, login, id, now)
    if (route.config.unidentified === 'refuse' && isObserving(ctx)) {
      request.log.info({ route: route.config.path, from: route.identity.describe, session: shortId(id) }, 'observe: would refuse this login (the user could not be read)')
      return undefined
    }
    if (route.config.unidentified === 'refuse') {
      await ctx.store.end([id], 'login_not_identified', now)
      request.log.warn({ route: route.config.path, from: route.identity.describe, session: shortId(id) },
        'login refused: the app signed someone in, but the user could not be read (set login[].unidentified: pass to let such logins through uncounted)')
      state.answered = true
      return replaceWithEnded(ctx, request, reply, answer.payload, 'login_not_identified')
    }
    ctx.warnEveryMinute(`unidentified:${route.config.path}`, { route: route.config.path, from: route.identity.describe },
      'login succeeded but the user could not be read; not counted (unidentified: pass)')
    return undefined
  }
  // A redirect to failureRedirect is the route's own sign of a failed login: nothing to warn about.
  if (route !== undefined && !state.carriedIds.has(id) && !(route.config.failureRedirect !== undefined && isRedirect(status))) {
    ctx.warnEveryMinute(`status:${route.config.path}:${status}`, { route: route.config.path, status, accepted: route.config.status, failureRedirect: route.config.failureRedirect },
      'login route set a new session cookie with an answer it does not accept as a login: not counted as a login (check login[].status and failureRedirect)')
  }

  // A new cookie for a session the request carried is that session's new cookie.
  const from = state.carried[0]
  if (from !== undefined) {
    if (state.carriedIds.has(id)) return undefined
    const result = await ctx.store.rotate(from, id, now)
    if (result.rotated) {
      request.log.debug({ session: shortId(from), cookie: shortId(id) }, 'session id rotated by the app')
      // With login: auto, a new cookie may also be someone else signing in on this device (an unlisted route).
      if (ctx.config.login.auto && ctx.whoami !== undefined) {
        return await question(ctx, request, reply, answer, state, change, set.value, id, now, { owner: result.user, key: from })
      }
    } else if (result.ended) {
      request.log.info({ session: shortId(from), cookie: shortId(id) }, 'session rotated after it was ended: the new cookie is ended too')
    }
    return undefined
  }

  // login: auto — any other new session cookie may be a login nobody listed;
  // under adopt, the new value of one forwarded before its question is asked about in its place.
  if (state.identifying !== undefined || state.joinsWindow !== undefined || (ctx.config.login.auto && ctx.whoami !== undefined && !state.carriedIds.has(id))) {
    return await question(ctx, request, reply, answer, state, change, set.value, id, now)
  }
  return undefined
}

/**
 * The whoami question about a session value, at the moment identification.ts
 * describes: now (before this answer goes out), or, after a redirect, once
 * the browser's next request with it has been answered. `value`/`id` are the
 * newest value (the answer's new cookie, or the one the request carried);
 * `rotationOf`: a rotation of a tracked session, whose owner signing in again
 * is no new login. Someone signed in is admitted like a login: if refused,
 * this answer is replaced by the ended answer.
 */
async function question (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, answer: { payload: unknown }, state: RequestState,
  change: SessionCookieChange, value: string, id: SessionId, now: number, rotationOf?: { owner: string, key: SessionId }
): Promise<string | undefined> {
  // The request's own turn in a window, or the window of a value it carried on a login or logout path (no turn).
  const ident = state.identifying
  const turnOver = (): void => { ident?.window.endTurn() }
  let w = ident?.window ?? state.joinsWindow
  state.identifying = undefined
  state.joinsWindow = undefined
  if (ctx.whoami === undefined) {
    turnOver()
    return undefined
  }
  const status = reply.statusCode
  const presentation = presentationOf(ctx, request, answerCookieHeader(ctx, request, change, value))
  if (w !== undefined) {
    w.presentation = presentation
    if (w.verdict !== undefined || w.question !== undefined) {
      // Settled meanwhile (a request past the window asked): this value shares the verdict.
      turnOver()
      if (await join(identifyDeps(ctx), w, id) !== 'ended') return undefined
      state.answered = true
      return replaceWithEnded(ctx, request, reply, answer.payload, 'concurrent_login_limit')
    }
    ctx.awaiting.add(w, id)
    if (isRedirect(status) && w.forwarded < MAX_UNIDENTIFIED_REQUESTS) {
      turnOver()
      return undefined
    }
  } else if (isRedirect(status)) {
    ctx.awaiting.add(new IdentificationWindow('login: auto (whoami)', presentation, rotationOf), id)
    return undefined
  } else {
    w = new IdentificationWindow('login: auto (whoami)', presentation, rotationOf)
  }
  let replaced: string | undefined
  const admit: Admit = async (user, group, admitted, via) => {
    replaced = await admitLogin(ctx, request, reply, answer.payload, state, { user, group, scope: undefined, via }, admitted, now)
    return replaced === undefined ? 'live' : state.answered ? 'ended' : 'pending'
  }
  // Asked before the turn ends: a request waiting for it finds the question under way.
  const asked = identify(identifyDeps(ctx), w, id, presentation.context, admit)
  turnOver()
  await asked
  return replaced
}

/** The turn of a request forwarded unidentified is over without a question after it (and a window it only joined is let go). */
function endTurn (state: RequestState): void {
  state.identifying?.window.endTurn()
  state.identifying = undefined
  state.joinsWindow = undefined
}

/**
 * Who a login route's answer logged in: from the request (read before) or
 * from the answer. 'nobody' when the app said plainly that nobody signed in
 * (whoami): a failed login, not one that cannot be read.
 *
 * A name read from the request is only the name the client typed: with a
 * top-level whoami, the app is asked who actually signed in, and a login the
 * app does not confirm counts for nothing. That closes the one weakness of
 * request-read names: a failed login whose answer looks like a success (same
 * status, a new cookie) would otherwise count as the named user's login.
 */
async function routeLogin (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, answer: { payload: unknown },
  state: RequestState, route: LoginRoute, change: SessionCookieChange, sessionValue: string
): Promise<Login | 'nobody' | undefined> {
  let loginAnswer: LoginAnswer | undefined
  const fromAnswer = async (strategy: IdentityStrategy | undefined): Promise<Found> => {
    if (strategy?.phase !== 'answer') return { values: [] }
    const read = loginAnswer ?? await readAnswer(ctx, request, reply, answer, change, sessionValue, [route.identity, route.group])
    loginAnswer = read
    return await strategy.find(read)
  }
  let user = state.user
  let group = state.group
  if (user === undefined && route.identity.phase === 'answer') {
    const found = await fromAnswer(route.identity)
    if (found.nobody === true) return 'nobody'
    const named = identified(found.values, route.config.caseInsensitive)
    if (named.kind === 'ambiguous') request.log.warn({ route: route.config.path }, 'the app\'s answer names more than one user: not counted')
    if (named.kind === 'user') user = named.user
    group ??= found.group
  } else if (user !== undefined && ctx.whoami !== undefined) {
    const confirmed = await ctx.whoami(whoamiContext(ctx, request, answerCookieHeader(ctx, request, change, sessionValue)))
    if (confirmed.user === undefined) {
      if (confirmed.definite) return 'nobody'
    } else {
      user = confirmed.user
      group ??= confirmed.group
    }
  }
  if (user === undefined) return undefined
  if (group === undefined && route.group?.phase === 'answer') {
    const found = identified((await fromAnswer(route.group)).values, false)
    if (found.kind === 'user') group = found.user
  }
  return { user, group, scope: route.config.scope, via: route.identity.describe }
}

/**
 * What an answer-phase strategy reads. The body is only read when a strategy
 * needs it (responseJson); the same bytes then go on to the client.
 */
async function readAnswer (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, answer: { payload: unknown },
  change: SessionCookieChange, sessionValue: string, strategies: Array<IdentityStrategy | undefined>
): Promise<LoginAnswer> {
  const headers = reply.getHeaders() as LoginAnswer['headers']
  let body: Buffer | undefined
  if (strategies.some((s) => s?.phase === 'answer' && s.needsAnswerBody)) {
    const raw = await bufferPayload(answer)
    if (raw !== undefined) {
      body = decodedBody(raw, { 'content-encoding': headers['content-encoding'] === undefined ? undefined : String(headers['content-encoding']) }, MAX_ANSWER_BYTES)
    }
  }
  return { headers, setCookies: change.all, body, context: whoamiContext(ctx, request, answerCookieHeader(ctx, request, change, sessionValue)) }
}

/**
 * The whole answer body, read from the app's stream; `answer.payload` becomes
 * the same bytes for the client. Beyond MAX_ANSWER_BYTES it stops reading and
 * names nobody: the client then gets what was read followed by the rest of
 * the stream, untouched.
 */
async function bufferPayload (answer: { payload: unknown }): Promise<Buffer | undefined> {
  const payload = answer.payload
  if (Buffer.isBuffer(payload)) return payload
  if (typeof payload === 'string') return Buffer.from(payload)
  if (!(payload instanceof Readable)) return undefined
  const chunks: Buffer[] = []
  let size = 0
  const it = payload[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  for (;;) {
    let next: IteratorResult<Buffer>
    try {
      next = await it.next()
    } catch (err) {
      throw new AnswerReadError(err)
    }
    if (next.done === true) break
    chunks.push(next.value)
    size += next.value.length
    if (size > MAX_ANSWER_BYTES) {
      answer.payload = Readable.from((async function * () {
        yield * chunks
        for (let more = await it.next(); more.done !== true; more = await it.next()) yield more.value
      })())
      return undefined
    }
  }
  const body = Buffer.concat(chunks)
  answer.payload = body
  return body
}

/** The Cookie header the browser would send now: its cookies, updated by the answer's, with the new session. */
function answerCookieHeader (ctx: GatewayContext, request: FastifyRequest, change: SessionCookieChange, sessionValue: string): string {
  const cookies = new Map<string, string>()
  for (const pair of (request.headers.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=')
    if (eq !== -1) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim())
  }
  for (const sc of change.all) {
    const c = parseSetCookie(sc, ctx.now())
    if (c === undefined) continue
    if (c.clears) cookies.delete(c.name)
    else cookies.set(c.name, c.value)
  }
  const session = canonicalCookieName(ctx.config.session.cookie)
  for (const name of [...cookies.keys()]) if (canonicalCookieName(name) === session) cookies.delete(name)
  cookies.set(ctx.config.session.cookie, sessionValue)
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ')
}

/** The app's answer broke while the gateway read it (for responseJson). */
class AnswerReadError extends Error {
  constructor (cause: unknown) {
    super('the app\'s answer broke while being read', { cause })
  }
}

async function admitLogin (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, payload: unknown,
  state: RequestState, login: Login, id: string, now: number
): Promise<string | undefined> {
  const limit = ctx.limitFor(login.user, { scope: login.scope, group: login.group })
  const owner = slotOwner(login.user, login.scope)
  // Policy ask asks browsers; a client that cannot be shown the chooser gets the fallback at once.
  const asks = ctx.config.policy === 'ask' && prefersHtml(request.headers)
  const policy = asks ? 'ask' : ctx.decidingPolicy
  const result = await admitSession(ctx, {
    user: owner, id, now, limit, policy, replaces: state.carried, group: login.group, meta: ctx.meta(request), askTimeout: ctx.config.ask.timeout
  }, login.via, clientOf(request))
  const about = { user: login.user, scope: login.scope, group: login.group, via: login.via, session: shortId(id) }
  if (result.admitted) {
    if (result.pending === true) {
      request.log.info({ ...about, ended: result.ended.map((r) => shortId(r.id)) }, 'login over the limit: waiting for the user to choose (ask)')
      return replaceWithChooser(ctx, request, reply, payload)
    }
    request.log.info({ ...about, ended: result.ended.map((r) => shortId(r.id)) }, 'login admitted')
    return undefined
  }
  state.answered = true
  if (result.reason === 'ended') {
    // The app handed out a value the gateway had already ended: a stateless
    // cookie repeated byte for byte (Flask signs the same session content
    // with a timestamp in whole seconds). Nothing tells the new holder from
    // the one it was ended for, so the value stays ended, under every
    // policy; the browser is asked to sign in again, which yields a new value.
    request.log.warn({ ...about }, 'login refused: the app handed out a session value that was already ended (a stateless cookie repeated byte for byte, e.g. the same user signing in twice within one second); signing in again gives a new one')
    return replaceWithEnded(ctx, request, reply, payload, 'login_not_recorded')
  }
  request.log.info({ ...about, reason: result.reason, policy }, 'login refused: over the limit (reject-new)')
  if (ctx.config.policy === 'ask' && result.reason === 'limit') {
    return replaceWithTooMany(ctx, reply, payload, limit, await ctx.store.sessionsOf(owner, now))
  }
  return replaceWithEnded(ctx, request, reply, payload, 'concurrent_login_limit')
}
