import { END_REASONS, type EndReason, type SessionId } from '../domain/session.js'

/**
 * How many time buckets `maxAge` is cut into. An ended session is refused for
 * at least `maxAge` and forgotten at most `maxAge / BUCKETS` later, when its
 * whole bucket goes; a lookup probes every bucket still kept (BUCKETS + 1).
 */
export const BUCKETS = 16

/** Largest load of the bucket still being filled before it doubles; a closed bucket is rebuilt at CLOSED_LOAD. */
const MAX_LOAD = 0.75
const CLOSED_LOAD = 0.85
const MIN_CAPACITY = 16

/**
 * The ended sessions of the memory store, as 64-bit fingerprints of their
 * ids in time buckets that expire whole.
 *
 * Under login churn ended sessions are the most numerous records (one per
 * login under limit 1), and each must be kept for `maxAge`: as objects in a
 * Map they cost ~400 bytes each. Here a session is 9 bytes in an
 * open-addressing table (8 of fingerprint, 1 of end reason): ~11 bytes per
 * entry in a closed bucket (rebuilt at load 0.85), up to 24 in the one being
 * filled. Who ended a session (shown on the signed-out page) is kept apart,
 * in a bounded cache that may forget it; a session's ending never is.
 *
 * A fingerprint is two 32-bit hashes of the id. Ids are keyed HMACs a client
 * cannot steer, so two of them share a fingerprint by chance only: with ten
 * million ended sessions, a given live id is taken for an ended one with odds
 * of 1 in 2^64 / 10^7, about 5 × 10^-13 per lookup.
 */
export class EndedSet {
  readonly #width: number
  /** Oldest first; at most BUCKETS + 1 (the current one and those `maxAge` still covers). */
  #buckets: Bucket[] = []

  constructor (maxAge: number) {
    this.#width = Math.max(1, Math.ceil(maxAge / BUCKETS))
  }

  /** The end reason of an ended id, if it ended and its bucket is still kept. */
  get (id: SessionId, now: number): EndReason | undefined {
    this.#expire(now)
    const h1 = fingerprintHi(id)
    const h2 = fingerprintLo(id)
    // Newest first: a session ended a moment ago is the one most often asked about.
    for (let i = this.#buckets.length - 1; i >= 0; i--) {
      const code = (this.#buckets[i] as Bucket).find(h1, h2)
      if (code !== 0) return END_REASONS[code - 1]
    }
    return undefined
  }

  /** Records an ending; an id already ended keeps its first reason (returns false). */
  add (id: SessionId, reason: EndReason, now: number): boolean {
    if (this.get(id, now) !== undefined) return false
    this.#current(now).insert(fingerprintHi(id), fingerprintLo(id), reasonCode(reason))
    return true
  }

  size (now: number): number {
    this.#expire(now)
    let n = 0
    for (const b of this.#buckets) n += b.count
    return n
  }

  /** Bytes held by the tables (for the memory benchmark's accounting). */
  bytes (): number {
    let n = 0
    for (const b of this.#buckets) n += b.bytes()
    return n
  }

  clear (): void {
    this.#buckets = []
  }

  /**
   * Every bucket still kept, as chunks of at most `perChunk` entries
   * (snapshot lines): the bucket's number, then the fingerprints and reason
   * codes in base64.
   */
  * chunks (now: number, perChunk = 8192): Generator<EndedChunk> {
    this.#expire(now)
    for (const b of [...this.#buckets]) yield * b.chunks(perChunk)
  }

  /** Takes back a chunk written by `chunks` (skipped when its bucket is over, or malformed). */
  restore (chunk: EndedChunk, now: number): void {
    const [no, fps, codes] = chunk
    if (!Number.isSafeInteger(no) || typeof fps !== 'string' || typeof codes !== 'string') return
    if (this.#expired(no, now)) return
    const pairs = Buffer.from(fps, 'base64')
    const reasons = Buffer.from(codes, 'base64')
    if (pairs.length !== reasons.length * 8) return
    const bucket = this.#bucket(no)
    for (let i = 0; i < reasons.length; i++) {
      const code = reasons[i] as number
      if (code === 0 || code > END_REASONS.length) continue
      const h1 = pairs.readUInt32LE(i * 8)
      const h2 = pairs.readUInt32LE(i * 8 + 4)
      if (bucket.find(h1, h2) === 0) bucket.insert(h1, h2, code)
    }
  }

  #expired (no: number, now: number): boolean {
    // Everything in bucket `no` ended before (no + 1) * width: maxAge is over for all of it.
    return now - (no + 1) * this.#width >= this.#width * BUCKETS
  }

  #expire (now: number): void {
    let drop = 0
    while (drop < this.#buckets.length && this.#expired((this.#buckets[drop] as Bucket).no, now)) drop++
    if (drop > 0) this.#buckets = this.#buckets.slice(drop)
  }

  #current (now: number): Bucket {
    return this.#bucket(Math.floor(now / this.#width))
  }

  /** The bucket numbered `no`, made (in order) if missing; the one before a new newest bucket is closed. */
  #bucket (no: number): Bucket {
    const last = this.#buckets[this.#buckets.length - 1]
    if (last !== undefined && last.no === no) return last
    const at = this.#buckets.findIndex((b) => b.no >= no)
    if (at !== -1 && (this.#buckets[at] as Bucket).no === no) return this.#buckets[at] as Bucket
    const made = new Bucket(no)
    if (at === -1) {
      last?.close()
      this.#buckets.push(made)
    } else {
      this.#buckets.splice(at, 0, made)
    }
    return made
  }
}

/** A snapshot line of ended sessions: bucket number, fingerprints (8 bytes each, base64), reason codes (1 byte each, base64). */
export type EndedChunk = [number, string, string]

/**
 * One time bucket: a linear-probing hash table in typed arrays. Slot i holds
 * the fingerprint in `fp[2i]`, `fp[2i+1]` and the reason code (1-based; 0 is
 * an empty slot) in `code[i]`. Nothing is ever removed from a bucket: it goes whole.
 */
class Bucket {
  readonly no: number
  count = 0
  #fp: Uint32Array
  #code: Uint8Array
  #mask: number

  constructor (no: number, capacity = MIN_CAPACITY) {
    this.no = no
    this.#fp = new Uint32Array(capacity * 2)
    this.#code = new Uint8Array(capacity)
    this.#mask = capacity - 1
  }

  find (h1: number, h2: number): number {
    const fp = this.#fp
    const code = this.#code
    for (let i = h2 & this.#mask; ; i = (i + 1) & this.#mask) {
      const c = code[i] as number
      if (c === 0) return 0
      if (fp[2 * i] === h1 && fp[2 * i + 1] === h2) return c
    }
  }

  insert (h1: number, h2: number, c: number): void {
    if (this.count + 1 > this.#code.length * MAX_LOAD) this.#resize(this.#code.length * 2)
    this.#place(h1, h2, c)
    this.count++
  }

  /** The bucket will get no more entries: rebuilt as small as its load allows. */
  close (): void {
    const fit = capacityFor(this.count, CLOSED_LOAD)
    if (fit < this.#code.length) this.#resize(fit)
  }

  bytes (): number {
    return this.#fp.byteLength + this.#code.byteLength
  }

  * chunks (perChunk: number): Generator<EndedChunk> {
    let pairs = Buffer.alloc(Math.min(perChunk, this.count) * 8)
    let codes = Buffer.alloc(Math.min(perChunk, this.count))
    let n = 0
    for (let i = 0; i < this.#code.length; i++) {
      const c = this.#code[i] as number
      if (c === 0) continue
      pairs.writeUInt32LE(this.#fp[2 * i] as number, n * 8)
      pairs.writeUInt32LE(this.#fp[2 * i + 1] as number, n * 8 + 4)
      codes[n++] = c
      if (n === codes.length) {
        yield [this.no, pairs.toString('base64'), codes.toString('base64')]
        pairs = Buffer.alloc(pairs.length)
        codes = Buffer.alloc(codes.length)
        n = 0
      }
    }
    if (n > 0) yield [this.no, pairs.subarray(0, n * 8).toString('base64'), codes.subarray(0, n).toString('base64')]
  }

  #place (h1: number, h2: number, c: number): void {
    let i = h2 & this.#mask
    while (this.#code[i] !== 0) i = (i + 1) & this.#mask
    this.#fp[2 * i] = h1
    this.#fp[2 * i + 1] = h2
    this.#code[i] = c
  }

  #resize (capacity: number): void {
    const fp = this.#fp
    const code = this.#code
    this.#fp = new Uint32Array(capacity * 2)
    this.#code = new Uint8Array(capacity)
    this.#mask = capacity - 1
    for (let i = 0; i < code.length; i++) {
      const c = code[i] as number
      if (c !== 0) this.#place(fp[2 * i] as number, fp[2 * i + 1] as number, c)
    }
  }
}

/** The smallest power of two that holds `count` entries at no more than `load`. */
function capacityFor (count: number, load: number): number {
  let capacity = MIN_CAPACITY
  while (capacity * load < count + 1) capacity *= 2
  return capacity
}

function reasonCode (reason: EndReason): number {
  return END_REASONS.indexOf(reason) + 1
}

/**
 * Two 32-bit hashes of an id (murmur3's finaliser over FNV-1a, with two
 * seeds). Real ids are already uniform (base64url HMACs); the mixing is for
 * the short ids tests use, and costs ~20 ns. The Redis store keeps the same
 * fingerprints (redis/ended-index.ts).
 */
export function fingerprintHi (id: string): number {
  return mix(fnv(id, 0x811c9dc5))
}

export function fingerprintLo (id: string): number {
  return mix(fnv(id, 0x9e3779b9) ^ 0x5bd1e995)
}

function fnv (s: string, seed: number): number {
  let h = seed
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h
}

function mix (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
