import { LRUCache } from 'lru-cache'
import { counts, END_REASONS, isIdle, isTooOld, type EndReason, type SessionId, type SessionRecord, type Timeouts } from '../domain/session.js'
import { decide } from '../domain/policy.js'
import type { AdmitResult, LoginAttempt, RotateResult, SessionState, SessionStore, StoreEvents, StoreStats } from './store.js'

export interface MemoryStoreOptions {
  /** Most tracked (live) sessions kept in memory. */
  maxSessions: number
  timeouts: Timeouts
  events?: StoreEvents
}

interface LiveEntry {
  user: string
  createdAt: number
  lastUsedAt: number
}

interface Alias {
  /** The id the session was rotated to. */
  to: SessionId
  at: number
}

const WARN_EVERY_MS = 60_000
/** Stale live records removed per login, so the clean-up never makes one login slow. */
const PURGE_BATCH = 64
/** Longest chain of rotations followed from an old cookie to its session's current id. */
const MAX_ALIAS_HOPS = 64

// Ended records are the most numerous kind under churn; each is kept as one
// number (ending time and reason packed together) rather than an object.
const REASON_BITS = 4
function packEnded (at: number, reason: EndReason): number {
  return at * REASON_BITS + END_REASONS.indexOf(reason)
}
function endedAt (packed: number): number {
  return Math.floor(packed / REASON_BITS)
}
function endedReason (packed: number): EndReason {
  return END_REASONS[packed % REASON_BITS] as EndReason
}

/**
 * The embedded store: one gateway's sessions in its own memory.
 *
 * Live records sit in an LRU ordered by last use and bounded by
 * `maxSessions`: under memory pressure the record dropped is the one nobody
 * has used for longest (it merely stops counting until its next sign-in).
 * Ended records and rotation aliases are kept apart, in insertion-ordered
 * Maps that pressure never touches: forgetting one would let a session back
 * in. They leave when their `maxAge` is over; insertion order is time order,
 * so the expired ones are always at the head.
 *
 * Every method runs to completion without awaiting, so each is atomic with
 * respect to every other request in this process.
 */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory'
  readonly #live: LRUCache<SessionId, LiveEntry>
  readonly #ended = new Map<SessionId, number>()
  readonly #aliases = new Map<SessionId, Alias>()
  /** user → their session ids: one id held as a string (the common case), several as a Set. */
  readonly #byUser = new Map<string, SessionId | Set<SessionId>>()
  readonly #max: number
  readonly #t: Timeouts
  readonly #events: StoreEvents | undefined
  #droppedUnderPressure = 0
  #lastPressureWarning = -Infinity

  constructor (opts: MemoryStoreOptions) {
    this.#max = opts.maxSessions
    this.#t = opts.timeouts
    this.#events = opts.events
    this.#live = new LRUCache<SessionId, LiveEntry>({
      max: opts.maxSessions,
      // Only pressure evictions arrive here with reason 'evict'; every other
      // removal goes through #forget, which keeps the user index itself.
      dispose: (entry, id, reason) => {
        if (reason === 'evict') {
          this.#unindex(entry.user, id)
          this.#droppedUnderPressure++
        }
      }
    })
  }

  async check (id: SessionId, now: number): Promise<SessionState> {
    const slot = this.#resolve(id, now)
    const reason = this.#endedReason(slot, now)
    if (reason !== undefined) return { state: 'ended', reason }
    const entry = this.#live.get(slot)
    if (entry === undefined) return { state: 'unknown' }
    if (isTooOld(entry.createdAt, now, this.#t)) {
      this.#forget(slot, entry)
      return { state: 'unknown' }
    }
    if (isIdle(entry.lastUsedAt, now, this.#t)) return { state: 'idle', user: entry.user, slot }
    entry.lastUsedAt = now
    return { state: 'live', user: entry.user, slot }
  }

  async admit (a: LoginAttempt): Promise<AdmitResult> {
    this.#purge(a.now, PURGE_BATCH)
    if (this.#endedReason(this.#resolve(a.id, a.now), a.now) !== undefined) return { admitted: false, reason: 'ended' }

    // The device's own previous session: of this user and still counting, it
    // hands its slot over; of another user, it is over.
    let takeOver: LiveEntry | undefined
    const replaced: SessionRecord[] = []
    for (const old of a.replaces) {
      const slot = this.#resolve(old, a.now)
      const entry = slot === a.id ? undefined : this.#live.peek(slot)
      if (entry === undefined) continue
      if (entry.user !== a.user) {
        replaced.push({ id: slot, ...entry })
        this.#end(slot, 'replaced', a.now)
        continue
      }
      if (counts(entry, a.now, this.#t)) takeOver ??= entry
      this.#forget(slot, entry)
      this.#alias(slot, a.id, a.now)
    }

    const existing = this.#live.peek(a.id)
    let createdAt = a.now
    if (existing !== undefined) {
      if (existing.user === a.user && counts(existing, a.now, this.#t)) {
        // Already admitted (the same answer seen twice, or a re-login that
        // kept its cookie): admitting again must not end anything.
        existing.lastUsedAt = a.now
        return { admitted: true, ended: replaced }
      }
      // An idle session coming back keeps its login time (its maxAge runs from it).
      if (existing.user === a.user && !isTooOld(existing.createdAt, a.now, this.#t)) createdAt = existing.createdAt
      this.#forget(a.id, existing)
    }
    this.#aliases.delete(a.id)

    if (takeOver !== undefined || a.limit === 0) {
      this.#insert(a.id, { user: a.user, createdAt, lastUsedAt: a.now })
      return { admitted: true, ended: replaced }
    }
    const counting = this.#recordsOf(a.user, a.now).filter((r) => counts(r, a.now, this.#t))
    const decision = decide(counting, a.limit, a.policy)
    if (!decision.admit) {
      // The app has already created this session; it must not be usable.
      this.#end(a.id, 'concurrent_login_limit', a.now)
      return { admitted: false, reason: 'limit' }
    }
    for (const victim of decision.end) this.#end(victim.id, 'concurrent_login_limit', a.now)
    this.#insert(a.id, { user: a.user, createdAt, lastUsedAt: a.now })
    return { admitted: true, ended: [...replaced, ...decision.end] }
  }

  async rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult> {
    const slot = this.#resolve(from, now)
    const reason = this.#endedReason(slot, now)
    if (reason !== undefined) {
      this.#end(to, reason, now)
      return { rotated: false, ended: true }
    }
    const entry = this.#live.peek(slot)
    if (entry === undefined || isTooOld(entry.createdAt, now, this.#t)) return { rotated: false, ended: false }
    if (slot === to) {
      entry.lastUsedAt = now
      return { rotated: true, user: entry.user }
    }
    this.#forget(slot, entry)
    const replaced = this.#live.peek(to)
    if (replaced !== undefined) this.#forget(to, replaced)
    this.#aliases.delete(to)
    this.#insert(to, { user: entry.user, createdAt: entry.createdAt, lastUsedAt: now })
    this.#alias(slot, to, now)
    return { rotated: true, user: entry.user }
  }

  async end (ids: readonly SessionId[], reason: EndReason, now: number): Promise<SessionRecord[]> {
    const ended: SessionRecord[] = []
    for (const id of ids) {
      const slot = this.#resolve(id, now)
      if (this.#endedReason(slot, now) !== undefined) continue
      const entry = this.#live.peek(slot)
      if (entry !== undefined) ended.push({ id: slot, user: entry.user, createdAt: entry.createdAt, lastUsedAt: entry.lastUsedAt })
      this.#end(slot, reason, now)
    }
    return ended
  }

  async sessionsOf (user: string, now: number): Promise<SessionRecord[]> {
    return this.#recordsOf(user, now).sort((a, b) => a.createdAt - b.createdAt)
  }

  async stats (now: number): Promise<StoreStats> {
    this.#purge(now, Infinity)
    return { live: this.#live.size, ended: this.#ended.size }
  }

  async close (): Promise<void> {
    this.#live.clear()
    this.#ended.clear()
    this.#aliases.clear()
    this.#byUser.clear()
  }

  /** The session an id belongs to now: itself, or where its rotations lead. */
  #resolve (id: SessionId, now: number): SessionId {
    let current = id
    for (let hop = 0; hop < MAX_ALIAS_HOPS; hop++) {
      if (this.#live.has(current) || this.#ended.has(current)) return current
      const alias = this.#aliases.get(current)
      if (alias === undefined) return current
      if (now - alias.at >= this.#t.maxAge) { this.#aliases.delete(current); return current }
      current = alias.to
    }
    return current
  }

  #alias (from: SessionId, to: SessionId, now: number): void {
    // Re-inserting keeps the Map in time order, which #purge relies on.
    this.#aliases.delete(from)
    this.#aliases.set(from, { to, at: now })
  }

  /** The user's records, with those past `maxAge` removed on the way (the index never only grows). */
  #recordsOf (user: string, now: number): SessionRecord[] {
    const ids = this.#byUser.get(user)
    if (ids === undefined) return []
    const out: SessionRecord[] = []
    for (const id of typeof ids === 'string' ? [ids] : [...ids]) {
      const entry = this.#live.peek(id)
      if (entry === undefined) { this.#unindex(user, id); continue }
      if (isTooOld(entry.createdAt, now, this.#t)) { this.#forget(id, entry); continue }
      out.push({ id, user: entry.user, createdAt: entry.createdAt, lastUsedAt: entry.lastUsedAt })
    }
    return out
  }

  #endedReason (id: SessionId, now: number): EndReason | undefined {
    const packed = this.#ended.get(id)
    if (packed === undefined) return undefined
    if (now - endedAt(packed) < this.#t.maxAge) return endedReason(packed)
    this.#ended.delete(id)
    return undefined
  }

  #end (id: SessionId, reason: EndReason, now: number): void {
    const entry = this.#live.peek(id)
    if (entry !== undefined) this.#forget(id, entry)
    this.#aliases.delete(id)
    // Re-inserting keeps the Map in ending order, which #purge relies on.
    this.#ended.delete(id)
    this.#ended.set(id, packEnded(now, reason))
    this.#warnPressure(now)
  }

  #insert (id: SessionId, entry: LiveEntry): void {
    // The LRU drops its least recently used record itself when full (see dispose).
    this.#live.set(id, entry)
    const ids = this.#byUser.get(entry.user)
    if (ids === undefined) this.#byUser.set(entry.user, id)
    else if (typeof ids === 'string') this.#byUser.set(entry.user, new Set([ids, id]))
    else ids.add(id)
    if (this.#droppedUnderPressure > 0) this.#warnPressure(entry.lastUsedAt)
  }

  #forget (id: SessionId, entry: LiveEntry): void {
    this.#live.delete(id)
    this.#unindex(entry.user, id)
  }

  #unindex (user: string, id: SessionId): void {
    const ids = this.#byUser.get(user)
    if (ids === undefined) return
    if (typeof ids === 'string') {
      if (ids === id) this.#byUser.delete(user)
      return
    }
    ids.delete(id)
    if (ids.size === 1) this.#byUser.set(user, ids.values().next().value as SessionId)
    else if (ids.size === 0) this.#byUser.delete(user)
  }

  #warnPressure (now: number): void {
    const endedOver = this.#ended.size + this.#aliases.size > this.#max
    if ((this.#droppedUnderPressure === 0 && !endedOver) || now - this.#lastPressureWarning < WARN_EVERY_MS) return
    this.#lastPressureWarning = now
    if (this.#droppedUnderPressure > 0) {
      this.#events?.warn('memory store full: dropped the least recently used live sessions (they stop counting until their next sign-in); ended sessions are all kept; raise store.maxSessions', {
        maxSessions: this.#max, dropped: this.#droppedUnderPressure
      })
      this.#droppedUnderPressure = 0
    }
    if (endedOver) {
      this.#events?.warn('memory store holds more ended sessions than store.maxSessions; they are all kept until sessions.maxAge is over', {
        maxSessions: this.#max, ended: this.#ended.size, aliases: this.#aliases.size
      })
    }
  }

  /** Drops what `maxAge` is over for, starting where it always is: the heads of the time-ordered Maps and the LRU's cold end. */
  #purge (now: number, max: number): void {
    for (const [id, packed] of this.#ended) {
      if (now - endedAt(packed) < this.#t.maxAge) break
      this.#ended.delete(id)
    }
    for (const [id, alias] of this.#aliases) {
      if (now - alias.at < this.#t.maxAge) break
      this.#aliases.delete(id)
    }
    // Live records unused for longer than maxAge are certainly too old. (A
    // too-old record still in use is caught by its next check instead.)
    const stale: Array<[SessionId, LiveEntry]> = []
    // lru-cache types rentries() loosely as (K | V)[]; each item is a [key, value] pair.
    for (const [id, entry] of this.#live.rentries() as Generator<[SessionId, LiveEntry]>) {
      if (stale.length >= max || now - entry.lastUsedAt < this.#t.maxAge) break
      stale.push([id, entry])
    }
    for (const [id, entry] of stale) this.#forget(id, entry)
  }
}
