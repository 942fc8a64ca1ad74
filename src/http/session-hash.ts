import { createHmac, randomBytes } from 'node:crypto'
import type { SessionId } from '../domain/session.js'
import { safeDecode } from './percent.js'

/**
 * The only form in which a session cookie is ever kept or logged: an HMAC of
 * its value under the gateway's secret. Without the secret a hash cannot be
 * checked against a guessed cookie, and a leaked store or log holds nothing
 * that opens a session.
 *
 * 22 base64url characters are 132 bits: collisions among even billions of
 * sessions are out of reach, and each record stays small.
 */
export type SessionHasher = (cookieValue: string) => SessionId

export function createSessionHasher (secret: string | Buffer): SessionHasher {
  return (value) => createHmac('sha256', secret).update(canonicalCookieValue(value)).digest('base64url').slice(0, 22)
}

/**
 * One value for every spelling an app would read as the same cookie: most
 * frameworks percent-decode cookie values (Express's `cookie`, Rack, PHP,
 * Werkzeug) and several drop one pair of double quotes and the backslash
 * escapes inside them (Django, Werkzeug).
 * The value an app set and any re-spelling of it a client sends must hash
 * alike, or an ended session could come back re-spelled. (Two real session
 * ids never differ only by such spelling: apps generate them from plain
 * alphabets.)
 */
export function canonicalCookieValue (value: string): string {
  let v = value
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    // Python's http.cookies (Django) and Werkzeug also undo backslash escapes
    // inside quotes: \ooo octal, then \x for any x.
    v = v.slice(1, -1)
    if (v.includes('\\')) v = v.replace(/\\([0-3][0-7]{2}|[\s\S])/g, (_m, e: string) => e.length === 3 ? String.fromCharCode(parseInt(e, 8)) : e)
  }
  return safeDecode(v)
}

/** A per-process secret for when the configuration gives none (memory store only: hashes die with the process). */
export function ephemeralSecret (): Buffer {
  return randomBytes(32)
}
