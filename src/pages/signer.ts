import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { SessionId } from '../domain/session.js'

/**
 * Signs what the pages hand to a browser and must get back unchanged: the
 * CSRF token of a session, and the note that tells a signed-out device why.
 * The key is derived from the gateway's secret (so every gateway of a fleet
 * accepts what another signed) but is not the key of the session hashes:
 * nothing a client can choose is ever signed with that one.
 */
export interface Signer {
  /** `payload.signature`, both base64url. */
  sign (purpose: string, payload: string): string
  /** The payload, if the token is one this gateway (or fleet) signed for this purpose. */
  verify (purpose: string, token: string): string | undefined
  /** The CSRF token of a session: bound to it, so a form taken from one session is worth nothing in another. */
  csrfToken (session: SessionId): string
  csrfValid (session: SessionId, token: unknown): boolean
}

/** Long enough that guessing is hopeless, short enough for a URL. */
const SIGNATURE_BYTES = 16
/** Anything longer is not one of ours (and is not worth hashing). */
const MAX_TOKEN = 2048

export function createSigner (secret: string | Buffer): Signer {
  const key = createHash('sha256').update('sessioncap pages v1\0').update(secret).digest()
  const mac = (purpose: string, payload: string): Buffer =>
    createHmac('sha256', key).update(purpose).update('\0').update(payload).digest().subarray(0, SIGNATURE_BYTES)
  const sign = (purpose: string, payload: string): string =>
    `${Buffer.from(payload).toString('base64url')}.${mac(purpose, payload).toString('base64url')}`
  const verify = (purpose: string, token: string): string | undefined => {
    if (token.length > MAX_TOKEN) return undefined
    const dot = token.indexOf('.')
    if (dot === -1) return undefined
    const payload = Buffer.from(token.slice(0, dot), 'base64url').toString()
    const given = Buffer.from(token.slice(dot + 1), 'base64url')
    const wanted = mac(purpose, payload)
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? payload : undefined
  }
  return {
    sign,
    verify,
    csrfToken: (session) => mac('csrf', session).toString('base64url'),
    csrfValid: (session, token) => {
      if (typeof token !== 'string' || token.length > MAX_TOKEN) return false
      const given = Buffer.from(token, 'base64url')
      const wanted = mac('csrf', session)
      return given.length === wanted.length && timingSafeEqual(given, wanted)
    }
  }
}
