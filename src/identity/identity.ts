import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http'
import type { AskContext } from './whoami.js'

/** What a request-phase strategy may read of a login request. */
export interface LoginRequest {
  headers: IncomingHttpHeaders
  /** The raw query string, without the `?`. */
  query: string
  /** The buffered body as received, present when the strategy asked for it. */
  body?: Buffer
  /** The body with its Content-Encoding undone; undefined when it cannot be (then only `body` is read). */
  decodedBody?: Buffer
}

/**
 * A login request formed in a way that frameworks read differently (a
 * multipart part header folded over two lines, a body in UTF-16 without a
 * byte-order mark, JSON only Python reads): the gateway could not be sure to
 * read the user the app will sign in, so the login is refused before it
 * reaches the app. `why` says what, for the log and the client.
 */
export class MalformedLogin extends Error {
  readonly why: string
  constructor (why: string) {
    super(why)
    this.why = why
    this.name = 'MalformedLogin'
  }
}

/** What an answer-phase strategy may read: the app's answer to a login, and the session it started. */
export interface LoginAnswer {
  headers: OutgoingHttpHeaders
  /** The app's Set-Cookie headers, as sent. */
  setCookies: readonly string[]
  /** The answer's body, read in full (bounded) and with its Content-Encoding undone; present when the strategy asked for it. */
  body?: Buffer
  /** The browser as whoami presents it: the cookies it would now carry (the request's, updated by the answer's) and its headers. */
  context: AskContext
}

/** What an answer-phase strategy found. */
export interface Found {
  /** Every name found (the caller decides what several different ones mean). */
  values: string[]
  /** A group found with the name (whoami with `group`). */
  group?: string
  /** The app said plainly that nobody signed in (whoami): not a login at all, rather than one that cannot be read. */
  nobody?: boolean
}

/**
 * Finds who a login request is for, from the request itself (before it is
 * forwarded). A strategy returns every value it found (an app may read the
 * first or the last of a repeated field); the caller decides what several
 * different values mean.
 */
export interface RequestIdentity {
  readonly phase: 'request'
  /** Whether the request body must be buffered before the request is forwarded. */
  readonly needsBody: boolean
  /** For logs and messages: `form field "username"`. */
  readonly describe: string
  candidates (req: LoginRequest): string[]
}

/** Finds who logged in from the app's answer (after it, before the client sees it). */
export interface AnswerIdentity {
  readonly phase: 'answer'
  /** Whether the answer's body must be read before it goes to the client. */
  readonly needsAnswerBody: boolean
  readonly describe: string
  find (answer: LoginAnswer): Promise<Found>
}

export type IdentityStrategy = RequestIdentity | AnswerIdentity

/** The value of a header of an answer, as one string (the first, if repeated). */
export function headerValue (headers: OutgoingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()]
  if (v === undefined) return undefined
  return Array.isArray(v) ? v[0] : String(v)
}
