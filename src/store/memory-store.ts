import { LRUCache } from 'lru-cache'
import { counts, isIdle, isTooOld, type EndReason, type SessionId, type SessionRecord, type Timeouts } from '../domain/session.js'
import { decide } from '../domain/policy.js'
import type { AdmitResult, LoginAttempt, RotateResult, SessionState, SessionStore, StoreEvents, StoreStats } from './store.js'

export interface MemoryStoreOptions {
  /** Most session records (live and ended together) kept in memory. */
  maxSessions: number
  timeouts: Timeouts
  events?: StoreEvents
}

interface LiveEntry {
  user: string
  createdAt: number
  lastUsedAt: number
}

interface EndedEntry {
  endedAt: number
  reason: EndReason
}

const WARN_EVERY_MS = 60_000
/** Stale live records removed per login, so the clean-up never makes one login slow. */
const PURGE_BATCH = 64

/**
 * The embedded store: one gateway's sessions in its own memory.
 *
 * Live records sit in an LRU ordered by last use, so under memory pressure the
 * record dropped is the one nobody has used for longest. Ended records sit in a
 * plain Map that pressure never touches: forgetting an ended session would let
 * it back in, which is worse than forgetting an idle live one (that one merely
 * stops counting until it is seen again). Ended records leave only when their
 * `maxAge` is over; the Map keeps insertion order, which is ending order, so
 * the expired ones are always at its head.
 *
 * Every method runs to completion without awaiting, so each is atomic with
 * respect to every other request in this process.
 */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory'
  readonly #live: LRUCache<SessionId, LiveEntry>
  readonly #ended = new Map<SessionId, EndedEntry>()
  readonly #byUser = new Map<string, SessionId[]>()
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
    const ended = this.#endedEntry(id, now)
    if (ended !== undefined) return { state: 'ended', reason: ended.reason }
    const entry = this.#live.get(id)
    if (entry === undefined) return { state: 'unknown' }
    if (isTooOld(entry.createdAt, now, this.#t)) {
      this.#forget(id, entry)
      return { state: 'unknown' }
    }
    if (isIdle(entry.lastUsedAt, now, this.#t)) return { state: 'idle', user: entry.user }
    entry.lastUsedAt = now
    return { state: 'live', user: entry.user }
  }

  async admit (a: LoginAttempt): Promise<AdmitResult> {
    this.#purgeEnded(a.now)
    this.#purgeStaleLive(a.now, PURGE_BATCH)
    if (this.#endedEntry(a.id, a.now) !== undefined) return { admitted: false, reason: 'ended' }
    for (const old of a.replaces) {
      if (old === a.id) continue
      const entry = this.#live.peek(old)
      if (entry !== undefined) this.#forget(old, entry)
    }

    const existing = this.#live.peek(a.id)
    let createdAt = a.now
    if (existing !== undefined) {
      if (existing.user === a.user && counts(existing, a.now, this.#t)) {
        // Already admitted (the same response seen twice, or a re-login that
        // kept its cookie): admitting again must not end anything.
        existing.lastUsedAt = a.now
        return { admitted: true, ended: [] }
      }
      // An idle session coming back keeps its login time (its maxAge runs from it).
      if (existing.user === a.user && !isTooOld(existing.createdAt, a.now, this.#t)) createdAt = existing.createdAt
      this.#forget(a.id, existing)
    }

    const counting = this.#recordsOf(a.user, a.now).filter((r) => counts(r, a.now, this.#t))
    const decision = decide(counting, a.limit, a.policy)
    if (!decision.admit) {
      // The app has already created this session; it must not be usable.
      this.#end(a.id, 'concurrent_login_limit', a.now)
      return { admitted: false, reason: 'limit' }
    }
    for (const victim of decision.end) this.#end(victim.id, 'concurrent_login_limit', a.now)
    this.#insert(a.id, { user: a.user, createdAt, lastUsedAt: a.now }, a.now)
    return { admitted: true, ended: decision.end }
  }

  async rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult> {
    const ended = this.#endedEntry(from, now)
    if (ended !== undefined) {
      this.#end(to, ended.reason, now)
      return { rotated: false, ended: true }
    }
    const entry = this.#live.peek(from)
    if (entry === undefined || isTooOld(entry.createdAt, now, this.#t)) return { rotated: false, ended: false }
    if (from !== to) {
      this.#forget(from, entry)
      const replaced = this.#live.peek(to)
      if (replaced !== undefined) this.#forget(to, replaced)
      this.#insert(to, { user: entry.user, createdAt: entry.createdAt, lastUsedAt: now }, now)
    } else {
      entry.lastUsedAt = now
    }
    return { rotated: true, user: entry.user }
  }

  async release (ids: readonly SessionId[]): Promise<number> {
    let freed = 0
    for (const id of ids) {
      const entry = this.#live.peek(id)
      if (entry === undefined) continue
      this.#forget(id, entry)
      freed++
    }
    return freed
  }

  async sessionsOf (user: string, now: number): Promise<SessionRecord[]> {
    return this.#recordsOf(user, now).sort((a, b) => a.createdAt - b.createdAt)
  }

  async stats (now: number): Promise<StoreStats> {
    this.#purgeEnded(now)
    this.#purgeStaleLive(now, Infinity)
    return { live: this.#live.size, ended: this.#ended.size }
  }

  async close (): Promise<void> {
    this.#live.clear()
    this.#ended.clear()
    this.#byUser.clear()
  }

  /** The user's records, with those past `maxAge` removed on the way (the index never only grows). */
  #recordsOf (user: string, now: number): SessionRecord[] {
    const ids = this.#byUser.get(user)
    if (ids === undefined) return []
    const out: SessionRecord[] = []
    for (const id of [...ids]) {
      const entry = this.#live.peek(id)
      if (entry === undefined) { this.#unindex(user, id); continue }
      if (isTooOld(entry.createdAt, now, this.#t)) { this.#forget(id, entry); continue }
      out.push({ id, user: entry.user, createdAt: entry.createdAt, lastUsedAt: entry.lastUsedAt })
    }
    return out
  }

  #endedEntry (id: SessionId, now: number): EndedEntry | undefined {
    const entry = this.#ended.get(id)
    if (entry === undefined) return undefined
    if (now - entry.endedAt < this.#t.maxAge) return entry
    this.#ended.delete(id)
    return undefined
  }

  #end (id: SessionId, reason: EndReason, now: number): void {
    const entry = this.#live.peek(id)
    if (entry !== undefined) this.#forget(id, entry)
    // Re-inserting keeps the Map in ending order, which #purgeEnded relies on.
    this.#ended.delete(id)
    this.#makeRoom(now)
    this.#ended.set(id, { endedAt: now, reason })
  }

  #insert (id: SessionId, entry: LiveEntry, now: number): void {
    this.#makeRoom(now)
    this.#live.set(id, entry)
    const ids = this.#byUser.get(entry.user)
    if (ids === undefined) this.#byUser.set(entry.user, [id])
    else ids.push(id)
  }

  #forget (id: SessionId, entry: LiveEntry): void {
    this.#live.delete(id)
    this.#unindex(entry.user, id)
  }

  #unindex (user: string, id: SessionId): void {
    const ids = this.#byUser.get(user)
    if (ids === undefined) return
    const i = ids.indexOf(id)
    if (i !== -1) ids.splice(i, 1)
    if (ids.length === 0) this.#byUser.delete(user)
  }

  /** Frees one place: the least recently used live record goes; ended records never do. */
  #makeRoom (now: number): void {
    while (this.#live.size + this.#ended.size >= this.#max && this.#live.size > 0) this.#live.pop()
    if (this.#droppedUnderPressure > 0 || this.#ended.size >= this.#max) this.#warnPressure(now)
  }

  #warnPressure (now: number): void {
    if (now - this.#lastPressureWarning < WARN_EVERY_MS) return
    this.#lastPressureWarning = now
    if (this.#droppedUnderPressure > 0) {
      this.#events?.warn('memory store full: dropped the least recently used live sessions to keep every ended one; raise store.maxSessions', {
        maxSessions: this.#max, dropped: this.#droppedUnderPressure
      })
      this.#droppedUnderPressure = 0
    }
    if (this.#ended.size >= this.#max) {
      this.#events?.warn('memory store holds more ended sessions than store.maxSessions; keeping them all until they expire (sessions.maxAge)', {
        maxSessions: this.#max, ended: this.#ended.size
      })
    }
  }

  /**
   * Live records unused for longer than `maxAge` are certainly too old; they
   * sit at the least recently used end of the LRU, so they are found first.
   * (A too-old record still in use is caught by its next check instead.)
   */
  #purgeStaleLive (now: number, max: number): void {
    const stale: Array<[SessionId, LiveEntry]> = []
    // lru-cache types rentries() loosely as (K | V)[]; each item is a [key, value] pair.
    for (const [id, entry] of this.#live.rentries() as Generator<[SessionId, LiveEntry]>) {
      if (stale.length >= max || now - entry.lastUsedAt < this.#t.maxAge) break
      stale.push([id, entry])
    }
    for (const [id, entry] of stale) this.#forget(id, entry)
  }

  #purgeEnded (now: number): void {
    for (const [id, entry] of this.#ended) {
      if (now - entry.endedAt < this.#t.maxAge) break
      this.#ended.delete(id)
    }
  }
}
