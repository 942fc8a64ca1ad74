import type { SessionId } from '../domain/session.js'
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
 *   what the session held). A new value in a redirect *awaits*: the next
 *   request carrying it is forwarded as it is, and the question is asked when
 *   its answer is known, before that answer goes out.
 * - `unknownSessions: adopt`: the first request carrying an unknown value is
 *   forwarded, and the question asked when its answer is known; if that
 *   answer is a redirect, after the next one.
 *
 * The window: a value the gateway has not identified reaches the app in at
 * most MAX_UNIDENTIFIED_REQUESTS requests, one at a time. A request carrying
 * it while another one is under way, or after the window, waits for the
 * question (parallel requests share one question). A new value the app sets
 * in the window (a rotation) takes the window over where it was. If the
 * question finds a user over the limit, the answer of the request it was
 * asked after is replaced by the ended answer (the browser never gets it),
 * and the value is refused from then on.
 */
export const MAX_UNIDENTIFIED_REQUESTS = 2

/** How an identified value counts: the name of the way it was found, as logged and audited. */
export type IdentifiedVia = 'login: auto (whoami)' | 'unknownSessions: adopt'

/** A value awaiting its question. */
export interface Awaiting {
  via: IdentifiedVia
  /** Requests carrying it (or an earlier value of it) forwarded so far. */
  forwarded: number
  /** The ids of its values so far, oldest first (the app may rotate it in the window): they share the verdict. */
  ids: SessionId[]
  /** Requests carrying it under way now. */
  inFlight: number
  /** For a rotation of a tracked session (`login: auto`): its owner (the question asks whether someone else signed in) and its key (replaced if so). */
  owner?: string
  replaces?: SessionId
}

export function awaiting (via: IdentifiedVia, rotationOf?: { owner: string, key: SessionId }): Awaiting {
  return rotationOf === undefined ? { via, forwarded: 0, inFlight: 0, ids: [] } : { via, forwarded: 0, inFlight: 0, ids: [], owner: rotationOf.owner, replaces: rotationOf.key }
}

/** May a request carrying this awaiting value be forwarded unidentified? If so, it is counted in the window. */
export function mayForwardUnidentified (a: Awaiting): boolean {
  if (a.inFlight > 0 || a.forwarded >= MAX_UNIDENTIFIED_REQUESTS) return false
  a.inFlight++
  a.forwarded++
  return true
}

/** After the answer of a request forwarded unidentified: ask now, or wait for the next request (after a redirect, within the window)? */
export function askAfter (a: Awaiting, status: number): boolean {
  a.inFlight = Math.max(0, a.inFlight - 1)
  return !(isRedirect(status) && a.forwarded < MAX_UNIDENTIFIED_REQUESTS)
}

export function isRedirect (status: number): boolean {
  return status >= 300 && status < 400 && status !== 304
}

/** What a request forwarded unidentified carries to the response hook. */
export interface Identifying {
  id: SessionId
  value: string
  awaiting: Awaiting
}

/** Adds a value of the session to its window (a few at most: one per forwarded request, and the one it started with). */
export function addValue (a: Awaiting, id: SessionId): void {
  if (!a.ids.includes(id) && a.ids.length < MAX_UNIDENTIFIED_REQUESTS + 2) a.ids.push(id)
}

/**
 * What the question found about one value holds for every value of the
 * window: the app rotated one session. Admitted: the others are later
 * cookies of it; refused: they are ended too (an app may still accept an
 * older value); nobody: they are anonymous.
 */
export async function shareVerdict (
  store: SessionStore, anonymous: { set: (id: SessionId, at: number) => unknown }, a: Awaiting, id: SessionId, verdict: 'live' | 'ended' | 'anonymous', now: number
): Promise<void> {
  const others = a.ids.filter((other) => other !== id)
  if (verdict === 'anonymous') {
    for (const other of others) anonymous.set(other, now)
  } else if (verdict === 'ended') {
    if (others.length > 0) await store.end(others, 'concurrent_login_limit', now)
  } else {
    for (const other of others) await store.rotate(id, other, now)
  }
}

/**
 * Whether an earlier value of the window was identified meanwhile (a
 * parallel request asked): its verdict, taken over by this value.
 */
export async function earlierVerdict (store: SessionStore, a: Awaiting, id: SessionId, now: number): Promise<'live' | 'ended' | undefined> {
  for (const other of a.ids) {
    if (other === id) continue
    const s = await store.check(other, now)
    if (s.state === 'ended') {
      await store.end([id], 'concurrent_login_limit', now)
      return 'ended'
    }
    if (s.state === 'live' || s.state === 'idle' || s.state === 'pending') {
      await store.rotate(other, id, now)
      return 'live'
    }
  }
  return undefined
}
