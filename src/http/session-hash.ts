import { createHmac, randomBytes } from 'node:crypto'
import type { SessionId } from '../domain/session.js'

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
  return (value) => createHmac('sha256', secret).update(value).digest('base64url').slice(0, 22)
}

/** A per-process secret for when the configuration gives none (memory store only: hashes die with the process). */
export function ephemeralSecret (): Buffer {
  return randomBytes(32)
}
