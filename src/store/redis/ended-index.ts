import { END_REASONS, type EndReason, type SessionId } from '../../domain/session.js'
import { BUCKETS, fingerprintHi, fingerprintLo } from '../ended-set.js'

/**
 * The Redis store's ended sessions, compact: each one a field of a small
 * hash, the 64-bit fingerprint of its key (ended-set.ts) in 11 base64url
 * characters, valued with its end reason's number. The hashes are cut by
 * shard (the fingerprint's first byte: 256 hash tags, so Cluster spreads
 * them) and by time bucket (`maxAge / BUCKETS`), and each bucket expires
 * whole (PEXPIREAT), like the memory store's.
 *
 *   {prefix}{e:SS}:T   HASH  fingerprint → reason number   (SS: shard, 2 hex digits; T: time bucket)
 *   {prefix}{en}:T     STRING how many endings bucket T holds, all shards (for store.maxEnded)
 *
 * An ended session costs one hash field (~15 B while its hash is a listpack,
 * ~60 B once it grows past Redis's `hash-max-listpack-entries`), where a
 * key of its own (a pointer, and the user's ended hash and time index)
 * cost ~350 B.
 *
 * Scripts that end a session on a user's keys record it there first (the
 * user's `ended` hash: atomic with the decision, announced by the same
 * script); the store then copies it here and takes it off the user's keys
 * (redis-store.ts #drain). Until it is copied, the user's record refuses it.
 */

/** A bucket's keys are scanned from (current - BUCKETS) to (current + 1): gateways' clocks may differ by up to a bucket. */
const SPAN = BUCKETS + 2

export interface IndexEntry {
  id: SessionId
  reason: EndReason
  /** The announcement to publish if this call records it (ids ended for no known user); '' for none. */
  announce: string
}

export class EndedIndexKeys {
  readonly #prefix: string
  readonly width: number

  constructor (prefix: string, maxAge: number) {
    this.#prefix = prefix
    this.width = Math.max(1, Math.ceil(maxAge / BUCKETS))
  }

  /** The shard's bucket keys a lookup must read, oldest first; the current bucket is at index BUCKETS. */
  bucketKeys (shard: string, now: number): string[] {
    const current = Math.floor(now / this.width)
    const keys: string[] = []
    for (let t = current - BUCKETS; t < current - BUCKETS + SPAN; t++) keys.push(`${this.#prefix}{e:${shard}}:${t}`)
    return keys
  }

  /** When the bucket at (1-based) position `k` of `bucketKeys(…, now)` starts: no ending in it is older. */
  bucketStart (k: number, now: number): number {
    return (Math.floor(now / this.width) - BUCKETS + k - 1) * this.width
  }

  /**
   * How long from `now` the current bucket must be kept: until maxAge (a
   * full span of buckets) is over for the last moment it covers. Relative,
   * not a date: Redis's clock is not the gateway's.
   */
  keepFor (now: number): number {
    const current = Math.floor(now / this.width)
    return (current + 1 + BUCKETS) * this.width - now
  }

  countKeys (now: number): string[] {
    const current = Math.floor(now / this.width)
    const keys: string[] = []
    for (let t = current - BUCKETS; t < current - BUCKETS + SPAN; t++) keys.push(`${this.#prefix}{en}:${t}`)
    return keys
  }

  currentCountKey (now: number): string {
    return `${this.#prefix}{en}:${Math.floor(now / this.width)}`
  }
}

/** The shard (2 hex digits) and field (11 base64url characters) of an id. */
export function indexSlot (id: SessionId): { shard: string, field: string } {
  const hi = fingerprintHi(id)
  const lo = fingerprintLo(id)
  const b = Buffer.allocUnsafe(8)
  b.writeUInt32BE(hi, 0)
  b.writeUInt32BE(lo, 4)
  return { shard: (hi >>> 24).toString(16).padStart(2, '0'), field: b.toString('base64url') }
}

export function reasonNumber (reason: EndReason): number {
  return END_REASONS.indexOf(reason) + 1
}

export function reasonOf (stored: unknown): EndReason | undefined {
  const n = Number(stored)
  return Number.isInteger(n) && n >= 1 ? END_REASONS[n - 1] : undefined
}

/**
 * KEYS: the shard's SPAN bucket keys. ARGV: fields. Returns, per field, its
 * reason number and the (1-based) key it was found in, or '' and 0 when not ended.
 */
export const ENDED_LOOKUP = `
local out = {}
for i = 1, #ARGV do
  local found, at = '', 0
  for k = #KEYS, 1, -1 do
    local v = redis.call('HGET', KEYS[k], ARGV[i])
    if v then found, at = v, k break end
  end
  table.insert(out, found)
  table.insert(out, at)
end
return out
`

/**
 * KEYS: the shard's SPAN bucket keys (the current one at BUCKETS + 1).
 * ARGV 1 how long to keep the current bucket (ms), 2 the endings
 * channel, then per ending: field, reason number, announcement ('' for none).
 * An ending already recorded keeps its first reason. Returns the positions
 * (1 for the first ending given) of those that were new.
 */
export const ENDED_ADD = `
local cur = KEYS[${BUCKETS + 1}]
local added = {}
for i = 3, #ARGV, 3 do
  local seen = false
  for k = #KEYS, 1, -1 do
    if redis.call('HEXISTS', KEYS[k], ARGV[i]) == 1 then seen = true break end
  end
  if not seen then
    redis.call('HSET', cur, ARGV[i], ARGV[i + 1])
    table.insert(added, (i - 3) / 3 + 1)
    if ARGV[i + 2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[i + 2]) end
  end
end
if #added > 0 then redis.call('PEXPIRE', cur, ARGV[1]) end
return added
`
