import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { hmacSha256 } from '../http/session-hash.js'

/**
 * The device token: what a browser that signed in successfully gets back (in
 * a cookie the proxy sets), so that its later attempts are judged by their
 * own userNetwork counter only. An attacker hammering `alice` from a thousand
 * addresses then blocks the user key for everyone *else*, and Alice on her
 * laptop still signs in (attackers locking real users out by name:
 * authelia#4730, Keycloak's docs).
 *
 *   v1.<user key>.<device id>.<issued at>.<signature>
 *
 * - user key: the guard's keyed hash of the normalised user (keys.ts), so
 *   the cookie names nobody in clear (a shared computer's cookie jar does
 *   not tell who signed in);
 * - device id: 16 random bytes, kept when the token is renewed;
 * - issued at: whole seconds, base 36;
 * - signature: HMAC-SHA256 (first 16 bytes) of everything before it, under a
 *   key derived from the gateway's secret for this purpose alone.
 *
 * The shape follows @fastify/cookie's signer: sign with the first secret,
 * verify against every secret (rotation), in constant time, and answer
 * `{ valid, renew, … }` instead of throwing.
 */
export type DeviceTokenCheck =
  | { valid: true, renew: boolean, userKey: string, deviceId: string, issuedAt: number }
  | { valid: false, renew: false, userKey: null }

export interface DeviceTokens {
  /** A token for this user key: a new device, or `deviceId` renewed. */
  sign (userKey: string, now: number, deviceId?: string): string
  /**
   * Checks a token. `renew`: valid, but signed with an older secret or past
   * half its `maxAge`: the proxy should hand out a fresh one (on the next
   * success), so a device in use never runs out.
   */
  verify (token: string, now: number): DeviceTokenCheck
}

export interface DeviceTokenOptions {
  /** The first signs; all verify (put the new secret first, keep the old one until its tokens are renewed). */
  secrets: ReadonlyArray<string | Buffer>
  /** How long a token is accepted after it was issued (ms). */
  maxAge: number
}

/** A token from a clock this much ahead is still accepted (the fleet's clocks differ a little). */
const CLOCK_SKEW_MS = 5 * 60_000
const SIGNATURE_CHARS = 22
const TOKEN = /^v1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{22})\.([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$/
/** No valid token is longer: anything longer is not looked at. */
const MAX_TOKEN = 100
const INVALID: DeviceTokenCheck = { valid: false, renew: false, userKey: null }

/** Random bytes drawn a pool at a time: one call to the generator per 256 device ids, not per id. */
const POOL = 16 * 256
let pool = Buffer.alloc(0)
let used = POOL
function randomId (): string {
  if (used === POOL) {
    pool = randomBytes(POOL)
    used = 0
  }
  used += 16
  return pool.toString('base64url', used - 16, used)
}

export function createDeviceTokens (opts: DeviceTokenOptions): DeviceTokens {
  if (opts.secrets.length === 0) throw new TypeError('device tokens need at least one secret')
  const macs = opts.secrets.map((secret) => hmacSha256(createHmac('sha256', secret).update('sessioncap guard device v1').digest()))
  const sign = (userKey: string, now: number, deviceId = randomId()): string => {
    const body = `v1.${userKey}.${deviceId}.${Math.floor(now / 1000).toString(36)}`
    return `${body}.${(macs[0] as (v: string) => string)(body).slice(0, SIGNATURE_CHARS)}`
  }
  const verify = (token: string, now: number): DeviceTokenCheck => {
    if (typeof token !== 'string' || token.length > MAX_TOKEN) return INVALID
    const m = TOKEN.exec(token)
    if (m === null) return INVALID
    const body = token.slice(0, token.length - SIGNATURE_CHARS - 1)
    const given = Buffer.from(m[4] as string, 'latin1')
    let signedBy = -1
    for (let i = 0; i < macs.length; i++) {
      const wanted = Buffer.from((macs[i] as (v: string) => string)(body).slice(0, SIGNATURE_CHARS), 'latin1')
      if (timingSafeEqual(given, wanted) && signedBy === -1) signedBy = i
    }
    if (signedBy === -1) return INVALID
    const issuedAt = parseInt(m[3] as string, 36) * 1000
    const age = now - issuedAt
    if (age >= opts.maxAge || age < -CLOCK_SKEW_MS) return INVALID
    return { valid: true, renew: signedBy > 0 || age >= opts.maxAge / 2, userKey: m[1] as string, deviceId: m[2] as string, issuedAt }
  }
  return { sign, verify }
}
