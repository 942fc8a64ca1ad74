import type { IncomingHttpHeaders } from 'node:http'

/** What a strategy may read of a login request. */
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
 * Finds who a login request is for. A strategy returns every value it found
 * (an app may read the first or the last of a repeated field); the caller
 * decides what several different values mean.
 */
export interface IdentityStrategy {
  /** Whether the request body must be buffered before the request is forwarded. */
  readonly needsBody: boolean
  /** For logs and messages: `form field "username"`. */
  readonly describe: string
  candidates (req: LoginRequest): string[]
}

/** Media type of a request, lowercased, without parameters. */
export function mediaType (headers: IncomingHttpHeaders): string {
  const ct = headers['content-type']
  if (ct === undefined) return ''
  const semi = ct.indexOf(';')
  return (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase()
}

export function isJsonType (type: string): boolean {
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'))
}
