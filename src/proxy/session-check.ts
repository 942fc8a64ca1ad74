import type { FastifyReply, FastifyRequest } from 'fastify'
import { deviceStillHoldsCookie, type EndedBy, type EndReason, type SessionId } from '../domain/session.js'
import { errors, isStoreFull, isStoreUnavailable } from '../errors.js'
import { urlSessionValues, withOnlyValue } from '../http/cookies.js'
import { allSessionCookieValues, sessionCookieValues } from '../http/cookie-readings.js'
import { takeCookie, withoutSessionPieces } from '../http/cookie-strip.js'
import type { SessionState, SettleResult } from '../store/store.js'
import { ownerParts } from '../domain/limits.js'
import { normalizePath } from '../http/path.js'
import type { GatewayContext, RequestState } from './context.js'
import { shortId } from './context.js'
import { sendEnded, sendPending } from './ended-answer.js'
import { admitSession, isObserving, noteRefused, observedOnly, settleSession } from '../sessions/actions.js'
import { clientOf } from '../http/client.js'
import { kState } from './symbols.js'
import { replayUpstreamLogouts } from './upstream-logout.js'
import { identify, IdentificationWindow, join } from './identification.js'
import { admitNow, identifyDeps, presentationOf } from './identify-hooks.js'

/**
 * More distinct session cookie values than this in one request is not a
 * browser (it holds one per path, rarely two): each value costs a store
 * lookup, so such a request is refused rather than judged.
 */
const MAX_SESSION_VALUES = 8
/**
 * The most distinct session ids looked up for one request, counting every
 * framework's reading of its header (a weird header reads differently in
 * each); more is refused like too many cookies. Values are counted before
 * they are hashed too (MAX_READING_VALUES), so a long header costs no more
 * than that many hashes.
 */
const MAX_SESSION_IDS = 16
const MAX_READING_VALUES = 64

/**
 * A value the request carries, and how the gateway treats it: the tracked
 * reading's cookies are tracked (revived, adopted); ids in the URL and values
 * only another framework's reading of the header yields are only checked
 * against ended sessions, and refused when ended (no browser sends them).
 */
interface Candidate {
  value: string
  id: SessionId
  from: 'cookie' | 'url' | 'reading'
}

interface EndedValue {
  value: string
  /** The value's keyed hash (the session id the store, the logs and the audit trail use). */
  id: SessionId
  reason: EndReason
  by?: EndedBy
  /** The ended session's key (its ending was logged under it) and user, when the store still knows them. */
  key?: SessionId
  user?: string
  /** From the URL (not among the request's cookies). */
  fromUrl: boolean
  /** Only checked, never tracked: an ended one is always refused. */
  checkedOnly: boolean
}


/**
 * onRequest: the check every request passes before anything else happens to
 * it. It runs before the body is read (a refused request costs nothing more)
 * and also on WebSocket upgrades.
 *
 * Every value of the session cookie is judged (an app may read the first or
 * the last of duplicates), and so are session ids carried in the URL. An
 * ended value never reaches the app:
 * - if its device should still hold it (ended by the limit), the request is
 *   refused with the ended answer, which tells the user and clears it;
 * - if the device has moved on (logged out, or signed in again), it is only
 *   taken out of the request, which goes on without it: an app that destroys
 *   a session without clearing its cookie must not leave the browser stuck;
 * - on a login route's path (any method: the form page too) it is taken out
 *   too, so a browser can always sign in again.
 */
export function sessionCheck (ctx: GatewayContext) {
  const cookieName = ctx.config.session.cookie
  const judgeRequest = judgeAndAnswer(ctx)
  const guard = ctx.config.guard
  const deviceCookie = guard === false || guard.device === false ? undefined : guard.device.cookie
  // A callback hook, not an async one: the requests of signed-in users (and
  // those without a session) pass without a single promise. Anything else
  // is judged in full; a request answered here never calls `done`.
  return function checkSession (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const path = normalizePath(request.url)
    // HEAD is answered like GET by apps, including the session cookie a GET login route sets.
    const method = request.method === 'HEAD' ? 'GET' : request.method
    const state: RequestState = {
      carried: [],
      carriedIds: new Set(),
      login: ctx.routes.login(method, path),
      logout: ctx.routes.logout(method, path),
      user: undefined,
      group: undefined,
      strip: undefined,
      clearStripped: false,
      holder: undefined,
      pendingSeen: false,
      answered: false,
      guard: undefined,
      loggedIn: false
    }
    request[kState] = state
    const header = request.headers.cookie
    if (deviceCookie !== undefined && header !== undefined && header.includes(deviceCookie)) {
      // The login guard's device cookie is the gateway's own: kept for the
      // guard, and gone from the header before anything reads it, so the
      // session check judges exactly what the app (and whoami, and upstream
      // logouts) will be sent.
      const { value, rest } = takeCookie(header, deviceCookie)
      state.deviceToken = value
      if (rest === undefined) delete request.headers.cookie
      else request.headers.cookie = rest
    }
    // `others` is empty without a single extra step for a header as browsers send it.
    const { tracked: values, others, tooMany } = sessionCookieValues(request.headers.cookie, cookieName)
    const inUrl = urlSessionValues(request.url, cookieName)
    if (values.length === 0 && inUrl.length === 0 && others.length === 0 && !tooMany) { done(); return }
    // The common case: one cookie, nothing in the URL, a live session the store knows without waiting.
    let first: FirstAnswer | undefined
    if (values.length === 1 && inUrl.length === 0 && others.length === 0 && !tooMany) {
      const id = ctx.hash(values[0] as string)
      const found = ctx.store.checkCached?.(id, ctx.now())
      // (A rotated value awaiting its whoami question, login: auto, is judged in full.)
      if (found?.state === 'live' && (ctx.awaiting.size === 0 || !ctx.awaiting.has(id))) {
        state.carriedIds.add(id)
        state.carried.push(found.slot)
        state.holder = { slot: found.slot, owner: found.user, group: undefined, pendingUntil: undefined }
        if (request.headers.upgrade !== undefined) ctx.sockets.noteUpgrade(request.raw.socket, state.carried)
        done()
        return
      }
      first = found === undefined ? { id } : { id, found }
    }
    judgeRequest(request, reply, state, path, { values, inUrl, others, tooMany }, first).then((answered) => { if (answered === undefined) done() }, done)
  }
}

/** The full judgement of a request's session values, and the gateway's answer when it must refuse. */
function judgeAndAnswer (ctx: GatewayContext) {
  return async function judgeRequest (
    request: FastifyRequest, reply: FastifyReply, state: RequestState, path: string, carried: CarriedValues, cachedFirst: FirstAnswer | undefined
  ): Promise<FastifyReply | undefined> {
    const candidates = candidatesOf(ctx, carried, cachedFirst)
    if (candidates === undefined) {
      state.answered = true
      throw new errors.TOO_MANY_SESSION_COOKIES()
    }
    const onLoginPath = ctx.routes.isLoginPath(path)
    const page = request.routeOptions.config?.sessioncapPage
    const onPage = page !== undefined
    // Reviving an idle session could end another one (evict policies); a
    // logout or a login on this request settles the session anyway.
    const revives = !onLoginPath && state.logout === undefined
    let ended: EndedValue[]
    const judged = new Set<SessionId>()
    try {
      ended = await judge(ctx, request, reply, state, candidates, judged, revives, cachedFirst)
    } catch (err) {
      // fail-closed (or a failure that is not the store being away): the
      // gateway cannot vouch for this session, so it refuses rather than let
      // a possibly ended one through. Outages are logged once, by the store.
      state.answered = true
      // A full store (store.maxEnded) could not admit an idle session coming back, or one met for the first time.
      if (isStoreFull(err)) throw err
      if (!isStoreUnavailable(err)) request.log.error({ err }, 'session check failed')
      throw isStoreUnavailable(err) ? err : new errors.STORE_UNAVAILABLE({ cause: err })
    }
    // ended.upstreamLogout: the app's own session goes too (in the background; observe mode aside).
    replayUpstreamLogouts(ctx, request, ended)

    // A session waiting for its user's choice (policy ask) reaches the pages,
    // a login (the user can always sign in again from the device in hand) and
    // a logout, and nothing else.
    if (isObserving(ctx)) ended = letObservedThrough(ctx, request, ended)
    if (state.pendingSeen && !onPage && !onLoginPath && state.logout === undefined && !isObserving(ctx)) {
      state.answered = true
      return sendPending(ctx, request, reply)
    }
    if (ended.length === 0) {
      if (request.headers.upgrade !== undefined) ctx.sockets.noteUpgrade(request.raw.socket, state.carried)
      return undefined
    }
    // The signed-out page never refuses a cookie: a browser that kept an ended
    // one must not be sent back to the page it is on.
    let refuse = page === 'ended' ? [] : ended.filter((e) => e.checkedOnly || (deviceStillHoldsCookie(e.reason) && !onLoginPath))
    if (refuse.length === 0) {
      const rest = strippedHeader(ctx, request.headers.cookie ?? '', ended, judged)
      // The gateway's own pages forward nothing to the app.
      if (rest.holds || onPage) {
        state.strip = new Set(ended.map((e) => e.value))
        // Clearing is safe only if the browser holds nothing else under the name.
        state.clearStripped = rest.empty
        return undefined
      }
      // Taken out as every reading sees it, an ended session (or an id never
      // judged) would still reach the app: no browser sends such a header.
      refuse = ended
    }
    state.answered = true
    const first = refuse.find((e) => deviceStillHoldsCookie(e.reason)) ?? refuse[0]
    const reason = first?.reason ?? 'concurrent_login_limit'
    // Every spelling of a value is in `refuse`: each session counted once.
    const refused = new Map<SessionId, EndedValue>()
    for (const e of refuse) {
      if (refused.has(e.id)) continue
      refused.set(e.id, e)
      noteRefused(ctx, e, e.reason, request.method, clientOf(request), true)
    }
    request.log.info({ ...refusedSessions([...refused.values()]), reason }, 'refused a request carrying an ended session')
    return sendEnded(ctx, request, reply, reason, first?.by)
  }
}

/** What the store said of an ended session, as far as it knows. */
interface Ending { reason: EndReason, by?: EndedBy, key?: SessionId, user?: string }

function ending (reason: EndReason, by: EndedBy | undefined, key: SessionId | undefined, user: string | undefined): Ending {
  const e: Ending = { reason }
  if (by !== undefined) e.by = by
  if (key !== undefined) e.key = key
  if (user !== undefined) e.user = user
  return e
}

/**
 * The refused sessions as the log names them: `session` is the key the
 * session's login and ending were logged under (the cookie value's own id,
 * `cookie`, differs after the app rotated it), `user` whose it was when the
 * store still knows (recent endings). Several: the first, then `more`.
 */
function refusedSessions (refused: readonly EndedValue[]): Record<string, unknown> {
  const named = refused.map((e) => {
    const session = shortId(e.key ?? e.id)
    const out: Record<string, string> = { session }
    if (e.user !== undefined) out.user = e.user
    if (shortId(e.id) !== session) out.cookie = shortId(e.id)
    return out
  })
  const [first, ...more] = named
  return more.length === 0 ? { ...first } : { ...first, more }
}

/**
 * Observe mode: an ended session is let through as it is (not refused, not
 * taken out of the request), and what enforce would have done is reported.
 * Sessions a person ended (a user on the pages, an administrator) are still
 * refused: that is not the gateway's decision.
 */
function letObservedThrough (ctx: GatewayContext, request: FastifyRequest, ended: EndedValue[]): EndedValue[] {
  const reported = new Set<SessionId>()
  for (const e of ended) {
    if (!observedOnly(ctx, e.reason)) continue
    if (reported.has(e.id)) continue
    reported.add(e.id)
    noteRefused(ctx, e, e.reason, request.method, clientOf(request), false)
    request.log.info({ ...refusedSessions([e]), reason: e.reason }, 'observe: would refuse this request (ended session)')
  }
  return ended.filter((e) => !observedOnly(ctx, e.reason))
}

/** The session values a request carries: the tracked reading's, the URL's, and those only other readings yield. */
interface CarriedValues {
  values: string[]
  inUrl: string[]
  others: string[]
  /** The header has more pieces naming the session cookie than a browser sends: not read further. */
  tooMany: boolean
}

/**
 * The values to judge with their ids, tracked values first; a value another
 * reading yields for a session a tracked value already names is judged with
 * it (and taken out with it). Undefined when there are more than a request
 * may carry (MAX_SESSION_VALUES, MAX_SESSION_IDS).
 */
function candidatesOf (ctx: GatewayContext, carried: CarriedValues, first: FirstAnswer | undefined): Candidate[] | undefined {
  const { values, inUrl, others, tooMany } = carried
  if (tooMany || new Set([...values, ...inUrl]).size > MAX_SESSION_VALUES || others.length > MAX_READING_VALUES) return undefined
  const candidates: Candidate[] = []
  const trackedIds = new Set<SessionId>()
  for (const [i, value] of values.entries()) {
    const id = i === 0 && first !== undefined ? first.id : ctx.hash(value)
    trackedIds.add(id)
    candidates.push({ value, id, from: 'cookie' })
  }
  for (const value of inUrl) candidates.push({ value, id: ctx.hash(value), from: 'url' })
  for (const value of others) {
    const id = ctx.hash(value)
    if (!trackedIds.has(id)) candidates.push({ value, id, from: 'reading' })
  }
  return new Set(candidates.map((c) => c.id)).size > MAX_SESSION_IDS ? undefined : candidates
}

/**
 * Whether taking the ended values out holds under every reading: the header
 * without them (`withoutSessionPieces`, exactly what forwarding will send)
 * must read, in every framework, as nothing but sessions already judged and
 * not ended. `empty`: it holds no value of the session cookie at all.
 */
function strippedHeader (ctx: GatewayContext, header: string, ended: readonly EndedValue[], judged: ReadonlySet<SessionId>): { holds: boolean, empty: boolean } {
  const name = ctx.config.session.cookie
  const endedIds = new Set(ended.map((e) => e.id))
  const rest = withoutSessionPieces(header, name, (value) => endedIds.has(ctx.hash(value)))
  if (rest === undefined) return { holds: true, empty: true }
  const left = allSessionCookieValues(rest, name)
  if (left === undefined) return { holds: false, empty: false }
  for (const value of left) {
    const id = ctx.hash(value)
    if (endedIds.has(id) || !judged.has(id)) return { holds: false, empty: false }
  }
  return { holds: true, empty: left.length === 0 }
}

/** The first value's id, hashed by the caller, with the store's answer when the store could give it from memory. */
type FirstAnswer = { id: SessionId, found?: SessionState }

/**
 * Looks every value up (once per distinct id) and fills in the tracked
 * sessions the request carries. Returns the values of ended sessions, every
 * spelling of each; `judged` gets every id it judged.
 */
async function judge (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, state: RequestState, candidates: readonly Candidate[], judged: Set<SessionId>, revives: boolean, first?: FirstAnswer
): Promise<EndedValue[]> {
  const now = ctx.now()
  // A value awaiting its question is forwarded unidentified only alone: beside other values, the app might read either.
  const alone = candidates.every((c) => c.id === candidates[0]?.id)
  const ended: EndedValue[] = []
  const seen = new Map<SessionId, Ending | undefined>()
  // After one store failure, the other values are not asked about: a request
  // waits for at most one store timeout.
  let storeDown = false
  let adoptedOne = false
  for (const [i, { value, id, from }] of candidates.entries()) {
    const fromUrl = from === 'url'
    // Only the tracked reading's cookies are tracked: the rest is checked.
    const checkedOnly = from !== 'cookie'
    if (!checkedOnly) state.carriedIds.add(id)
    judged.add(id)
    if (seen.has(id)) {
      const known = seen.get(id)
      if (known !== undefined) ended.push({ value, id, ...known, fromUrl, checkedOnly })
      continue
    }
    let reason: EndReason | undefined
    let by: EndedBy | undefined
    let key: SessionId | undefined
    let user: string | undefined
    try {
      if (storeDown) throw new errors.STORE_UNAVAILABLE()
      let found = (i === 0 ? first?.found : undefined) ?? await ctx.store.check(id, now)
      // A value awaiting its whoami question, or (adopt) one never seen: identification.ts.
      if ((found.state === 'unknown' || found.state === 'live') && !revives && ctx.whoami !== undefined && !checkedOnly) {
        // On a login or logout path the request settles the session itself and goes on as it is; it
        // still counts in its window, and a new value in its answer joins that window.
        const w = ctx.awaiting.get(id)
        if (w !== undefined && state.joinsWindow === undefined) {
          w.forwarded++
          state.joinsWindow = w
        }
      } else if ((found.state === 'unknown' || found.state === 'live') && ctx.whoami !== undefined) {
        const w = ctx.awaiting.get(id, () => presentationOf(ctx, request, withOnlyValue(request.headers.cookie ?? '', ctx.config.session.cookie, value)))
        const adoptNew = w === undefined && found.state === 'unknown' && !checkedOnly && !adoptedOne && ctx.config.unknownSessions === 'adopt'
        if (w !== undefined || adoptNew) {
          // One session met for the first time per request: made-up cookies must not multiply questions to the app.
          if (adoptNew) adoptedOne = true
          const met = await meet(ctx, request, reply, state, value, id, alone && !checkedOnly, w)
          // Settled: what the store says now (admitted, ended, or still unknown: nobody's).
          if (met === 'settled') found = await ctx.store.check(id, now)
        }
      }
      if (found.state === 'ended') {
        ({ reason, by, key, user } = found)
      } else if (found.state === 'pending') {
        // Waiting for its user's choice: whatever else the request carries
        // (a live cookie beside it, or the id in the URL), it reaches only the
        // pages, a login or a logout. On a login or a logout path an overdue
        // one is not decided now either: the logout ends it, the new login
        // replaces it (and is asked again); deciding first could end another
        // device of the user for a session about to go.
        if (now < found.until || !revives || checkedOnly) {
          state.pendingSeen = true
          if (!checkedOnly) {
            // The pages are about the waiting session, even beside a live one.
            if (state.holder?.pendingUntil === undefined) state.holder = { slot: found.slot, owner: found.user, group: found.group, pendingUntil: found.until }
            if (!state.carried.includes(found.slot)) state.carried.push(found.slot)
          }
        } else if (!checkedOnly) {
          const settled = await settleLate(ctx, request, found.slot, found.user, found.group)
          if (settled === 'live') {
            state.holder ??= { slot: found.slot, owner: found.user, group: found.group, pendingUntil: undefined }
            if (!state.carried.includes(found.slot)) state.carried.push(found.slot)
          } else if (settled === 'ended') {
            reason = 'concurrent_login_limit'
            key = found.slot
            user = found.user
          }
        }
      } else if ((found.state === 'live' || found.state === 'idle') && !checkedOnly) {
        // An idle session stopped counting while unused; coming back, it is
        // admitted again like a login of its user, so the limit still holds.
        const live = found.state === 'live' || !revives || await revive(ctx, request, found.slot, found.user, found.group, now)
        if (!live) {
          reason = 'concurrent_login_limit'
          key = found.slot
          user = found.user
        } else if (!state.carried.includes(found.slot)) state.carried.push(found.slot)
        if (live) state.holder ??= { slot: found.slot, owner: found.user, group: found.state === 'idle' ? found.group : undefined, pendingUntil: undefined }
      }
    } catch (err) {
      // fail-open: a session the store cannot be asked about passes as
      // unknown (ended ones the store's gateway-side memory knows of were
      // refused above, without asking Redis).
      if (!(isStoreUnavailable(err) && ctx.config.store.onError === 'fail-open')) throw err
      storeDown = true
    }
    const known = reason === undefined ? undefined : ending(reason, by, key, user)
    seen.set(id, known)
    if (known !== undefined) ended.push({ value, id, ...known, fromUrl, checkedOnly })
  }
  return ended
}

/** A whoami verdict of "nobody" is trusted this long; then the session is asked about again (it may have signed in since). */
const ANONYMOUS_RECHECK_MS = 60_000

/**
 * A value awaiting its whoami question (`w`), or one never seen under
 * `unknownSessions: adopt`, met by a request (identification.ts): forwarded
 * unidentified when its window allows (the question is then asked when the
 * answer is known, response-watch.ts), or settled now: after the question
 * under way, or by asking it. A plain "nobody" is not asked about again for
 * a minute.
 */
async function meet (
  ctx: GatewayContext, request: FastifyRequest, reply: FastifyReply, state: RequestState, value: string, id: SessionId, mayForward: boolean, found?: IdentificationWindow
): Promise<'forwarded' | 'settled'> {
  let w = found
  if (w === undefined) {
    const nobodyAt = ctx.anonymous.get(id)
    if (nobodyAt !== undefined && ctx.now() - nobodyAt < ANONYMOUS_RECHECK_MS) return 'settled'
    w = new IdentificationWindow('unknownSessions: adopt', presentationOf(ctx, request, withOnlyValue(request.headers.cookie ?? '', ctx.config.session.cookie, value)))
    ctx.awaiting.add(w, id)
  }
  const deps = identifyDeps(ctx)
  // A WebSocket upgrade would hold its turn for the socket's whole life: it asks at once.
  const forwardable = mayForward && request.headers.upgrade === undefined
  // Waiting for another request's turn, and the question after it, lasts at most whoami.timeout in all.
  const deadline = Date.now() + (ctx.config.whoami?.timeout ?? 2_000)
  for (;;) {
    if (w.verdict !== undefined || w.question !== undefined) {
      await join(deps, w, id)
      return 'settled'
    }
    if (forwardable && w.takeTurn()) {
      const window = w
      state.identifying = { id, value, window }
      // However the request ends (the gateway answered it, the client left), its turn ends.
      reply.raw.once('close', () => {
        if (state.identifying?.window !== window) return
        state.identifying = undefined
        window.endTurn()
      })
      return 'forwarded'
    }
    // Another request with it is at the app: wait for its answer (and the question after it), not for ever.
    const left = deadline - Date.now()
    if (!forwardable || w.inFlight === 0 || left <= 0) break
    await w.waitTurn(left)
  }
  const presentation = presentationOf(ctx, request, withOnlyValue(request.headers.cookie ?? '', ctx.config.session.cookie, value))
  await identify(deps, w, id, presentation.context, admitNow(ctx, w, presentation))
  return 'settled'
}

async function revive (ctx: GatewayContext, request: FastifyRequest, key: SessionId, owner: string, group: string | undefined, now: number): Promise<boolean> {
  // The same limit as at its login: its user's, in its scope, for its group.
  const { user, scope } = ownerParts(owner)
  const result = await admitSession(ctx, { user: owner, id: key, now, limit: ctx.limitFor(user, { scope, group }), policy: ctx.decidingPolicy, replaces: [], group }, 'idle session used again', clientOf(request))
  if (result.admitted) {
    if (result.ended.length > 0) {
      ctx.log.info({ user, session: shortId(key), ended: result.ended.map((r) => shortId(r.id)) }, 'idle session used again: admitted, ended others')
    }
    return true
  }
  ctx.log.info({ user, session: shortId(key) }, 'idle session used again: over the limit, ended')
  return false
}

/**
 * A pending session (policy ask) whose user did not choose in time: the
 * fallback policy decides now, the first time the session is seen after its
 * deadline.
 */
async function settleLate (ctx: GatewayContext, request: FastifyRequest, key: SessionId, owner: string, group: string | undefined): Promise<SettleResult['state']> {
  const { user, scope } = ownerParts(owner)
  const result = await settleSession(ctx, key, owner, ctx.config.ask.fallback, ctx.limitFor(user, { scope, group }), clientOf(request))
  if (result.state === 'live') {
    ctx.log.info({ user, session: shortId(key), policy: ctx.config.ask.fallback, ended: result.ended.map((r) => shortId(r.id)) }, 'no choice made in time: the fallback policy decided')
  } else if (result.state === 'ended') {
    ctx.log.info({ user, session: shortId(key), policy: ctx.config.ask.fallback }, 'no choice made in time: the fallback policy refused the sign-in')
  }
  return result.state
}
