import Negotiator from 'negotiator'
import type { IncomingHttpHeaders } from 'node:http'

const OFFERED = ['application/json', 'text/html']

/**
 * Is this a browser navigating (Accept prefers text/html) rather than a script?
 * An Accept of any type and a missing Accept are scripts: on a tie JSON wins, because a
 * redirect is useless to fetch() or curl while a browser always asks for HTML.
 */
export function prefersHtml (headers: IncomingHttpHeaders): boolean {
  if (headers.accept === undefined) return false
  return new Negotiator({ headers }).mediaType(OFFERED) === 'text/html'
}
