import * as crypto from 'node:crypto'
import { createHash, createHmac, randomBytes } from 'node:crypto'
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
  const hmac = hmacSha256(secret)
  return (value) => hmac(canonicalCookieValue(value)).slice(0, 22)
}

/** SHA-256's block size: HMAC pads its key to it (RFC 2104). */
const BLOCK = 64
/** Values up to this many UTF-16 units are hashed from one reused buffer (at most 3 UTF-8 bytes each). */
const MAX_SCRATCH_UNITS = 2048

/**
 * HMAC-SHA256 of a string, in base64url: exactly `createHmac('sha256',
 * secret).update(value).digest('base64url')` (RFC 2104, checked against it in
 * the tests), computed as two one-shot SHA-256 hashes over the key's
 * pre-padded blocks. createHmac sets the key up again on every call (OpenSSL's
 * MAC context and key schedule): ~5 µs of every request under load, against
 * ~1 µs for this. Where `crypto.hash` is missing (Node before 20.12),
 * createHmac is used.
 */
export function hmacSha256 (secret: string | Buffer): (value: string) => string {
  const oneShot = (crypto as { hash?: typeof crypto.hash }).hash
  if (typeof oneShot !== 'function') return (value) => createHmac('sha256', secret).update(value).digest('base64url')
  let key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret
  if (key.length > BLOCK) key = createHash('sha256').update(key).digest()
  // inner: (key ⊕ ipad) ‖ value; outer: (key ⊕ opad) ‖ SHA-256(inner)
  const inner = Buffer.alloc(BLOCK + MAX_SCRATCH_UNITS * 3, 0x36)
  const outer = Buffer.alloc(BLOCK + 32, 0x5c)
  for (let i = 0; i < key.length; i++) {
    inner[i] = (inner[i] as number) ^ (key[i] as number)
    outer[i] = (outer[i] as number) ^ (key[i] as number)
  }
  const ipad = Buffer.from(inner.subarray(0, BLOCK))
  return (value) => {
    // Each call fills the shared buffers and hashes them before returning: nothing else runs in between.
    // The inner digest comes back as a 'binary' (latin1) string (one byte per
    // character), written straight into the outer block: asking for a Buffer
    // ('buffer') costs a Buffer's allocation and crypto.hash's slow check of
    // that encoding's name, ~2 µs of the ~3 µs each HMAC took.
    const innerDigest = value.length <= MAX_SCRATCH_UNITS
      ? oneShot('sha256', inner.subarray(0, BLOCK + inner.write(value, BLOCK, 'utf8')), 'binary')
      : oneShot('sha256', Buffer.concat([ipad, Buffer.from(value, 'utf8')]), 'binary')
    outer.write(innerDigest, BLOCK, 'latin1')
    return oneShot('sha256', outer, 'base64url')
  }
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
