import { LRUCache } from 'lru-cache'
import { ownerParts } from '../domain/limits.js'
import type { SessionId, SessionMeta } from '../domain/session.js'
import type { Client } from '../ops/events.js'
import type { AskContext, Whoami } from '../identity/index.js'
import type { SessionStore } from '../store/store.js'

/**
 * When the gateway asks the app who a session value belongs to (`whoami`),
 * for `login: auto` (a new cookie in any answer) and `unknownSessions: adopt`
 * (a request carrying a value the gateway never saw).
 *
 * A `whoami` question is a request to the app with the session's cookie, and
 * an app that keeps one-request state in its session (Laravel ages its flash
 * data on every request through its `web` middleware; a "just signed out"
 * notice; a per-request CSRF token) spends that state on it. The browser's
 * own next request must get it. So a question is never asked between an
 * answer that redirects (where one-request state is typically set: a failed
 * login's error, a "saved" notice) and the browser's request for the
 * redirect's target:
 *
 * - `login: auto`: a new value in an answer that is not a redirect is asked
 *   about at once, before the answer goes out (the page was rendered with
 *   what the session held). A new value in a redirect opens a *window*: the
 *   next request carrying it is forwarded as it is, and the question is asked
 *   when its answer is known, before that answer goes out.
 * - `unknownSessions: adopt`: an unknown value opens a window too: its first
 *   request is forwarded, and the question asked when its answer is known.
 * - In a window, an answer that redirects again moves the question to the
 *   next request, up to MAX_UNIDENTIFIED_REQUESTS forwarded in all.
 *
 * Requests carrying a value of a window go one at a time: while one is at
 * the app, another waits for its answer (and the question after it), at most
 * `whoami.timeout`, then asks at once; so does a request past the window, one
 * carrying other session values beside it, and one carrying the value where
 * it is only checked (the URL). Every value the app rotates to in a window
 * joins it and shares its verdict: admitted, they are later cookies of the
 * session; refused, they are all ended, and the answer the question followed
 * is replaced by the ended answer.
 */
export const MAX_UNIDENTIFIED_REQUESTS = 2

/**
 * Windows kept at once (~1.1 KB each with a browser's cookies and headers:
 * 11 MB at most). At the bound the oldest one's question is asked at once,
 * without a request, with the presentation it kept; if the app cannot answer
 * it then, its values are remembered (ids only, ~100 B each) as values to ask
 * about at once when they come back.
 */
export const MAX_WINDOWS = 10_000
export const MAX_UNASKED = 100_000

/** The way a value was identified, as logged and audited. */
export type IdentifiedVia = 'login: auto (whoami)' | 'unknownSessions: adopt'

/** What a question is asked with, and what an admission records: the browser as it presented itself. */
export interface Presentation {
  context: AskContext
  meta: SessionMeta
  client: Client | undefined
}

/** How the asker admits someone the question found: `live`, `pending` (policy ask), or `ended` (refused). */
export type Admit = (user: string, group: string | undefined, id: SessionId, via: IdentifiedVia) => Promise<'live' | 'pending' | 'ended'>

export type Verdict = 'live' | 'pending' | 'ended' | 'anonymous'

/** A session value (and the values the app rotates it to) awaiting its question. */
export class IdentificationWindow {
  /** The ids of its values, oldest first: they share the verdict. */
  readonly ids: SessionId[] = []
  /** Requests forwarded unidentified so far. */
  forwarded = 0
  /** Requests with one of its values at the app now (0 or 1). */
  inFlight = 0
  /** The question under way: requests with its values wait for it. */
  question: Promise<Verdict | undefined> | undefined
  /** Its verdict, once known (undefined: the app could not tell; asked again at the next request). */
  verdict: Verdict | undefined
  /** The value admitted by the verdict: later values join its session. */
  admitted: SessionId | undefined
  #turn: { promise: Promise<void>, resolve: () => void } | undefined

  readonly via: IdentifiedVia
  /** The latest presentation: a question without a request (at the bound) is asked with it. */
  presentation: Presentation
  /** For a rotation of a tracked session (`login: auto`): its owner (the question asks whether someone else signed in) and its key (replaced if so). */
  readonly rotationOf: { owner: string, key: SessionId } | undefined

  constructor (via: IdentifiedVia, presentation: Presentation, rotationOf?: { owner: string, key: SessionId }) {
    this.via = via
    this.presentation = presentation
    this.rotationOf = rotationOf
  }

  addValue (id: SessionId): void {
    if (!this.ids.includes(id) && this.ids.length < MAX_UNIDENTIFIED_REQUESTS + 4) this.ids.push(id)
  }

  /** Takes a turn for a request to be forwarded unidentified, if the window allows one now. */
  takeTurn (): boolean {
    if (this.inFlight > 0 || this.forwarded >= MAX_UNIDENTIFIED_REQUESTS || this.question !== undefined) return false
    this.inFlight++
    this.forwarded++
    return true
  }

  /** The forwarded request is over (answered, answered by the gateway, or gone): a waiting request may go on. */
  endTurn (): void {
    this.inFlight = Math.max(0, this.inFlight - 1)
    const turn = this.#turn
    this.#turn = undefined
    turn?.resolve()
  }

  /** Waits until the request under way is over, at most `ms`. */
  async waitTurn (ms: number): Promise<void> {
    if (this.inFlight === 0) return
    this.#turn ??= deferred()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#turn.promise, new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })])
    clearTimeout(timer)
  }
}

/** The windows of one gateway, by value id (every value of a window maps to it); bounded. */
export class Windows {
  readonly #map: LRUCache<SessionId, IdentificationWindow>
  /** Values of windows pushed out whose question could not be asked then (with what the window was): asked about at once when they come back. */
  readonly #unasked = new LRUCache<SessionId, Pick<IdentificationWindow, 'via' | 'rotationOf'>>({ max: MAX_UNASKED })

  /** `overflow`: a window pushed out at the bound (its question is asked at once, without a request). */
  constructor (overflow: (w: IdentificationWindow) => void, max = MAX_WINDOWS) {
    this.#map = new LRUCache({
      max,
      dispose: (w, gone, reason) => {
        // Once per window: when its last value leaves, not for each.
        if (reason === 'evict' && w.verdict === undefined && w.question === undefined && !w.ids.some((id) => id !== gone && this.#map.peek(id) === w)) overflow(w)
      }
    })
  }

  get size (): number { return this.#map.size + this.#unasked.size }

  /** The value's window; for a value whose window was pushed out unasked, a new one that asks at once. */
  get (id: SessionId, presentation?: () => Presentation): IdentificationWindow | undefined {
    if (this.size === 0) return undefined
    const w = this.#map.get(id)
    const was = w === undefined && presentation !== undefined ? this.#unasked.get(id) : undefined
    if (was === undefined || presentation === undefined) return w
    this.#unasked.delete(id)
    const fresh = new IdentificationWindow(was.via, presentation(), was.rotationOf)
    fresh.forwarded = MAX_UNIDENTIFIED_REQUESTS
    this.add(fresh, id)
    return fresh
  }

  has (id: SessionId): boolean { return this.size !== 0 && (this.#map.has(id) || this.#unasked.has(id)) }

  /** A pushed-out window whose question could not be asked: its values are asked about at once when they come back. */
  unasked (w: IdentificationWindow): void {
    const was = { via: w.via, rotationOf: w.rotationOf }
    for (const id of w.ids) this.#unasked.set(id, was)
  }

  /** Records a value of the window (and the window under it). */
  add (w: IdentificationWindow, id: SessionId): void {
    w.addValue(id)
    this.#map.set(id, w)
  }

  /** The window is settled: its values leave (what the store or `anonymous` now knows of them stands). */
  close (w: IdentificationWindow): void {
    for (const id of w.ids) if (this.#map.peek(id) === w) this.#map.delete(id)
  }
}

export interface IdentifyDeps {
  whoami: Whoami
  store: SessionStore
  anonymous: { set: (id: SessionId, at: number) => unknown }
  windows: Windows
  now: () => number
}

/**
 * Asks the question of a window, once: a request that finds it under way
 * waits for it. `value`/`id` are the newest value, asked about with `context`.
 * Someone other than the rotated session's owner signed in: admitted by
 * `admit`; the verdict then holds for every value of the window (later
 * cookies of the session, or all ended). A plain "nobody": they are
 * anonymous. The app could not tell: the window stays, and the next request
 * asks at once.
 */
export async function identify (deps: IdentifyDeps, w: IdentificationWindow, id: SessionId, context: AskContext, admit: Admit): Promise<Verdict | undefined> {
  if (w.verdict !== undefined) return w.verdict
  if (w.question !== undefined) return await w.question
  w.addValue(id)
  const question = (async (): Promise<Verdict | undefined> => {
    const found = await deps.whoami(context)
    const now = deps.now()
    if (found.user === undefined) {
      if (!found.definite) return undefined
      for (const other of w.ids) deps.anonymous.set(other, now)
      return 'anonymous'
    }
    if (w.rotationOf !== undefined && found.user === ownerParts(w.rotationOf.owner).user) return 'live'
    const verdict = await admit(found.user, found.group, id, w.via)
    if (verdict !== 'ended') w.admitted = id
    const others = w.ids.filter((other) => other !== id)
    if (verdict === 'ended') {
      if (others.length > 0) await deps.store.end(others, 'concurrent_login_limit', now)
    } else {
      for (const other of others) await deps.store.rotate(id, other, now)
    }
    return verdict
  })()
  w.question = question
  try {
    const verdict = await question
    w.verdict = verdict
    if (verdict === undefined) w.forwarded = MAX_UNIDENTIFIED_REQUESTS
    else deps.windows.close(w)
    return verdict
  } catch (err) {
    // The store or the app failed: the next request asks again, at once.
    w.forwarded = MAX_UNIDENTIFIED_REQUESTS
    throw err
  } finally {
    w.question = undefined
  }
}

/**
 * A value that joins a window whose verdict is known (the app rotated it in
 * an answer that was under way meanwhile): it shares the verdict. Returns
 * the verdict it took.
 */
export async function join (deps: IdentifyDeps, w: IdentificationWindow, id: SessionId): Promise<Verdict | undefined> {
  const verdict = w.question !== undefined ? await w.question.catch(() => undefined) : w.verdict
  if (verdict === undefined) return undefined
  // Its session: the value admitted (a rotated session's owner keeps it: any earlier value of it is that session).
  const of = w.admitted ?? w.ids.find((other) => other !== id)
  const now = deps.now()
  if (verdict === 'ended') await deps.store.end([id], 'concurrent_login_limit', now)
  else if (verdict === 'anonymous') deps.anonymous.set(id, now)
  else if (of !== undefined && of !== id) await deps.store.rotate(of, id, now)
  return verdict
}

export function isRedirect (status: number): boolean {
  return status >= 300 && status < 400 && status !== 304
}

/** What a request forwarded unidentified carries to the response hook. */
export interface Identifying {
  id: SessionId
  value: string
  window: IdentificationWindow
}

function deferred (): { promise: Promise<void>, resolve: () => void } {
  let resolve: () => void = () => {}
  const promise = new Promise<void>((r) => { resolve = r })
  return { promise, resolve }
}
