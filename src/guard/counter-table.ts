/**
 * The memory guard's counters, in flat typed arrays: one entry per counter
 * key, found by a 64-bit fingerprint of the key, least recently used dropped
 * first at the bound. No object, string or Map entry per counter.
 *
 * Why not an lru-cache of objects, as before: every login of a new user adds
 * a counter (its logins this hour) and touches three more, and in a gateway
 * under load each object kept that way was copied twice by the young
 * generation's collections, then traced by every full one, and each string
 * key looked up in a Map of 100,000 entries missed the CPU's caches several
 * times. Side by side (`bench/ab.mjs --logins`), the store's two steps cost a
 * login ~35–45 µs that way, against ~5 µs in a loop; here an entry is one
 * record of 64 bytes in an ArrayBuffer the collector never looks into, and
 * a lookup touches the index's cache line and the record's.
 *
 * Fingerprints: two 32-bit hashes of the key's text (`fingerprintOf`). The
 * names hashed are the guard's keyed hashes (keys.ts): nobody without the
 * gateway's secret can choose a name whose fingerprint meets another's, and
 * by chance two of 100,000 keys share one about once in 2^30 tables — they
 * would then share a counter.
 *
 * Lookup: open addressing with linear probing over a power-of-two index
 * (at most half full), removal by backward shift, so no deleted marker ever
 * lengthens a probe (the pathology of V8's Map with keys deleted and set
 * again: memory-guard.ts). Recency: a doubly linked list through the
 * records. The records grow by doubling up to `max` entries.
 */
/** An entry's counts (32-bit integers): `table.count(e, KEPT)`. */
/** Failures kept in the current window (for a user's key: its user counter's). */
export const KEPT = 4
/** Attempts in flight charged to the key's counter. */
export const CHARGES = 5
/** A user's key: its logins in the current logins window, and those in flight. */
export const LOGINS_KEPT = 6
export const LOGINS_CHARGES = 7
/** An entry's times (ms): `table.time(e, WINDOW_END)`; 0: no window open. */
export const WINDOW_END = 4
export const LOGINS_WINDOW_END = 5

/**
 * One record of 64 bytes per entry, all its fields together (one cache
 * line, where a structure of arrays spread one entry over eleven), seen as
 * 16 int32 and 8 float64: ints 0–3 fingerprint (2), previous, next; ints
 * 4–7 the counts above; doubles 4–5 the times above; the rest unused.
 */
const INTS = 16
const DOUBLES = 8
const FA = 0
const FB = 1
const PREV = 2
const NEXT = 3

export class CounterTable {
  readonly max: number
  #capacity = 0
  #size = 0
  /**
   * Two numbers per index slot: entry + 1 (0: empty), and the entry's first
   * fingerprint half, so a probe past other keys reads only this array.
   */
  #index = new Int32Array(0)
  #mask = 0
  /** The entries' records, as ints and as doubles (one buffer). */
  #i32 = new Int32Array(0)
  #f64 = new Float64Array(0)
  /** Most recently used entry, least recently used entry; -1: none. */
  #head = -1
  #tail = -1
  /** Entries free for reuse (below `#used`), as a stack. */
  #free = new Int32Array(0)
  #freeTop = 0
  /** Entries ever handed out (the rest of the records is untouched). */
  #used = 0
  #evictions = 0

  /** Called with nothing when the least recently used entry is dropped to make room. */
  readonly #onEvict: () => void

  constructor (max: number, onEvict: () => void = () => {}) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`a counter table holds at least 1 entry, got ${max}`)
    this.max = max
    this.#onEvict = onEvict
    this.#grow(Math.min(max, 1024))
  }

  get size (): number {
    return this.#size
  }

  /** Entries dropped to make room so far: an entry number held across an `add` is still good while this has not moved. */
  get evictions (): number {
    return this.#evictions
  }

  /** One of an entry's counts (`KEPT`, `CHARGES`, `LOGINS_KEPT`, `LOGINS_CHARGES`). */
  count (e: number, field: number): number {
    return this.#i32[e * INTS + field] as number
  }

  setCount (e: number, field: number, value: number): void {
    this.#i32[e * INTS + field] = value
  }

  /** One of an entry's times (`WINDOW_END`, `LOGINS_WINDOW_END`). */
  time (e: number, field: number): number {
    return this.#f64[e * DOUBLES + field] as number
  }

  setTime (e: number, field: number, value: number): void {
    this.#f64[e * DOUBLES + field] = value
  }

  /** The entry of a fingerprint, made most recently used; -1: none. */
  find (fa: number, fb: number): number {
    const e = this.peek(fa, fb)
    if (e !== -1 && e !== this.#head) {
      this.#unlink(e)
      this.#pushFront(e)
    }
    return e
  }

  /** The entry of a fingerprint, its recency untouched; -1: none. */
  peek (fa: number, fb: number): number {
    const index = this.#index
    const mask = this.#mask
    for (let i = fa & mask; ; i = (i + 1) & mask) {
      const slot = index[2 * i] as number
      if (slot === 0) return -1
      if (index[2 * i + 1] === fa && this.#i32[(slot - 1) * INTS + FB] === fb) return slot - 1
    }
  }

  /**
   * A new, empty entry for a fingerprint not in the table (callers `find`
   * first), most recently used. At `max` entries the least recently used one
   * is dropped for it, whatever it held.
   */
  add (fa: number, fb: number): number {
    if (this.#size === this.#capacity) {
      if (this.#capacity < this.max) this.#grow(Math.min(this.max, this.#capacity * 2))
      else {
        this.remove(this.#tail)
        this.#evictions++
        this.#onEvict()
      }
    }
    const e = this.#freeTop > 0 ? this.#free[--this.#freeTop] as number : this.#used++
    const at = e * INTS
    this.#i32.fill(0, at, at + INTS)
    this.#i32[at + FA] = fa
    this.#i32[at + FB] = fb
    this.#place(e, fa)
    this.#pushFront(e)
    this.#size++
    return e
  }

  /** Drops an entry (its index slot closed up by backward shift: no marker left behind). */
  remove (e: number): void {
    const index = this.#index
    const mask = this.#mask
    let i = (this.#i32[e * INTS + FA] as number) & mask
    while (index[2 * i] !== e + 1) i = (i + 1) & mask
    // Every later entry of the same run that may move back into the hole does.
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const slot = index[2 * j] as number
      if (slot === 0) break
      const fa = index[2 * j + 1] as number
      const home = fa & mask
      // It may move to i when its home is not cyclically in (i, j].
      if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
        index[2 * i] = slot
        index[2 * i + 1] = fa
        i = j
      }
    }
    index[2 * i] = 0
    this.#unlink(e)
    this.#free[this.#freeTop++] = e
    this.#size--
  }

  /** Every entry, most recently used first. */
  * entries (): Generator<number> {
    for (let e = this.#head; e !== -1; e = this.#i32[e * INTS + NEXT] as number) yield e
  }

  clear (): void {
    this.#index.fill(0)
    this.#head = -1
    this.#tail = -1
    this.#size = 0
    this.#freeTop = 0
    this.#used = 0
  }

  #pushFront (e: number): void {
    const r = this.#i32
    r[e * INTS + PREV] = -1
    r[e * INTS + NEXT] = this.#head
    if (this.#head !== -1) r[this.#head * INTS + PREV] = e
    this.#head = e
    if (this.#tail === -1) this.#tail = e
  }

  #unlink (e: number): void {
    const r = this.#i32
    const p = r[e * INTS + PREV] as number
    const n = r[e * INTS + NEXT] as number
    if (p === -1) this.#head = n
    else r[p * INTS + NEXT] = n
    if (n === -1) this.#tail = p
    else r[n * INTS + PREV] = p
  }

  /** To `capacity` entries (and an index of twice that, rounded up to a power of two), entries kept in place. */
  #grow (capacity: number): void {
    const records = new ArrayBuffer(capacity * INTS * 4)
    const i32 = new Int32Array(records)
    i32.set(this.#i32)
    this.#i32 = i32
    this.#f64 = new Float64Array(records)
    const free = new Int32Array(capacity)
    free.set(this.#free)
    this.#free = free
    let slots = 2
    while (slots < capacity * 2) slots *= 2
    this.#index = new Int32Array(slots * 2)
    this.#mask = slots - 1
    for (let e = this.#head; e !== -1; e = i32[e * INTS + NEXT] as number) this.#place(e, i32[e * INTS + FA] as number)
    this.#capacity = capacity
  }

  /** Puts an entry in the first free slot from its home. */
  #place (e: number, fa: number): void {
    const index = this.#index
    const mask = this.#mask
    let i = fa & mask
    while (index[2 * i] !== 0) i = (i + 1) & mask
    index[2 * i] = e + 1
    index[2 * i + 1] = fa
  }
}

/**
 * A key's fingerprint: two 32-bit hashes over the UTF-16 code units, each
 * finished with murmur3's mixer: FNV-1a, and a multiply-xorshift whose
 * shift feeds high bits back into low ones (two FNV-1a from two seeds would
 * agree in their low bits: a product's low bits depend only on its factors')
 * of `kind`, then `a`, then, when given, a separator and `b`. Written into
 * `out` (no allocation: every login asks for three).
 */
export function fingerprintOf (kind: number, a: string, b: string | undefined, out: Int32Array): void {
  let h1 = Math.imul(0x811c9dc5 ^ kind, 0x01000193)
  let h2 = Math.imul(0x050c5d1f ^ kind, 0x5bd1e995)
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i)
    h1 = Math.imul(h1 ^ c, 0x01000193)
    h2 = Math.imul(h2 ^ c, 0x5bd1e995)
    h2 ^= h2 >>> 15
  }
  if (b !== undefined) {
    h1 = Math.imul(h1 ^ 0x10000, 0x01000193)
    h2 = Math.imul(h2 ^ 0x10000, 0x5bd1e995)
    for (let i = 0; i < b.length; i++) {
      const c = b.charCodeAt(i)
      h1 = Math.imul(h1 ^ c, 0x01000193)
      h2 = Math.imul(h2 ^ c, 0x5bd1e995)
      h2 ^= h2 >>> 15
    }
  }
  out[0] = mix(h1)
  out[1] = mix(h2)
}

/** murmur3's 32-bit finaliser: every input bit moves every output bit. */
function mix (h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}
