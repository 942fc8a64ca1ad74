import { LRUCache } from 'lru-cache'
import { counts, END_REASONS, isIdle, isTooOld, type EndReason, type SessionId, type SessionRecord, type Timeouts } from '../domain/session.js'
import { decide } from '../domain/policy.js'
import type { AdmitResult, LoginAttempt, RotateResult, SessionState, SessionStore, StoreEvents, StoreStats } from './store.js'
import { MAX_ALIASES_PER_SESSION } from './store.js'

export interface MemoryStoreOptions {
  /** Most tracked (live) sessions kept in memory; also the bound on remembered old cookies. */
  maxSessions: number
  timeouts: Timeouts
  events?: StoreEvents
}

interface LiveEntry {
  user: string
  createdAt: number
  lastUsedAt: number
  group?: string
  /** The session's later cookie ids (rotations), oldest first; absent until the first rotation. */
  aliases?: SessionId[]
}

interface Alias {
  /** The session's key: the id of its first cookie. */
  key: SessionId
  at: number
}

const WARN_EVERY_MS = 60_000
/** Stale live records removed per login, so the clean-up never makes one login slow. */
const PURGE_BATCH = 64

// Ended records are the most numerous kind under churn; each is kept as one
// number (ending time and reason packed together) rather than an object.
const REASON_BITS = 8
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
 * A session is known by a fixed key, the id of the first cookie it had; the
 * ids of later cookies (rotations) point at that key, one hop, so an old
 * cookie of a session is that session: counted with it, ended with it.
 *
 * Live records sit in an LRU ordered by last use and bounded by
 * `maxSessions`: under memory pressure the record dropped is the one nobody
 * has used for longest (it merely stops counting until its next sign-in).
 * Ended records are kept apart, in an insertion-ordered Map that pressure
 * never touches: forgetting one would let a session back in. They leave when
 * their `maxAge` is over; insertion order is time order, so the expired ones
 * are always at the head. Old cookie ids are bounded per session and in all.
 *
 * Every method runs to completion without awaiting, so each is atomic with
 * respect to every other request in this process.
 */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory'
  readonly #live: LRUCache<SessionId, LiveEntry>
  readonly #ended = new Map<SessionId, number>()
  readonly #aliases = new Map<SessionId, Alias>()
  /** user → their session keys: one key held as a string (the common case), several as a Set. */
  readonly #byUser = new Map<string, SessionId | Set<SessionId>>()
  readonly #max: number
  readonly #t: Timeouts
  readonly #events: StoreEvents | undefined
  #droppedUnderPressure = 0
  #droppedAliases = 0
  #lastPressureWarning = -Infinity

  constructor (opts: MemoryStoreOptions) {
    this.#max = opts.maxSessions
    this.#t = opts.timeouts
    this.#events = opts.events
    this.#live = new LRUCache<SessionId, LiveEntry>({
      max: opts.maxSessions,
      // Only pressure evictions arrive here with reason 'evict'; every other
      // removal goes through #forget, which keeps the user index itself.
      dispose: (entry, key, reason) => {
        if (reason === 'evict') {
          this.#unindex(entry.user, key)
          this.#droppedUnderPressure++
        }
      }
    })
  }

  async check (id: SessionId, now: number): Promise<SessionState> {
    const key = this.#keyOf(id, now)
    const reason = this.#endedReason(key, now)
    if (reason !== undefined) return { state: 'ended', reason }
    const entry = this.#live.get(key)
    if (entry === undefined) return { state: 'unknown' }
    if (isTooOld(entry.createdAt, now, this.#t)) {
      this.#forget(key, entry)
      return { state: 'unknown' }
    }
    if (isIdle(entry.lastUsedAt, now, this.#t)) return entry.group === undefined ? { state: 'idle', user: entry.user, slot: key } : { state: 'idle', user: entry.user, slot: key, group: entry.group }
    entry.lastUsedAt = now
    return { state: 'live', user: entry.user, slot: key }
  }

  async admit (a: LoginAttempt): Promise<AdmitResult> {
    this.#purge(a.now, PURGE_BATCH)
    const key = this.#keyOf(a.id, a.now)
    if (this.#endedReason(key, a.now) !== undefined) return { admitted: false, reason: 'ended' }

    const existing = this.#live.peek(key)
    if (existing !== undefined && existing.user === a.user && counts(existing, a.now, this.#t)) {
      // Already admitted (the same answer seen twice, or a re-login that kept
      // its cookie): admitting again must not end anything.
      existing.lastUsedAt = a.now
      return { admitted: true, ended: this.#endReplaced(a, key).ended }
    }
    // A cookie id the app handed out again for a new session is that new session now.
    if (key !== a.id) this.#aliases.delete(a.id)

    // The device's previous sessions end: a new login is a new session, and
    // an app may well keep honouring the old cookie. One that still counted
    // for this user hands its slot over, so signing in again on the same
    // device never takes a second slot (even under reject-new).
    const { ended: replaced, tookSlot } = this.#endReplaced(a, a.id)

    let createdAt = a.now
    const stale = this.#live.peek(a.id)
    if (stale !== undefined) {
      // An idle session coming back keeps its login time (its maxAge runs from it).
      if (stale.user === a.user && !isTooOld(stale.createdAt, a.now, this.#t)) createdAt = stale.createdAt
      this.#forget(a.id, stale)
    }

    if (tookSlot || a.limit === 0) {
      this.#insert(a.id, entryOf(a, createdAt))
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
    this.#insert(a.id, entryOf(a, createdAt))
    return { admitted: true, ended: [...replaced, ...decision.end] }
  }

  async rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult> {
    const key = this.#keyOf(from, now)
    const reason = this.#endedReason(key, now)
    if (reason !== undefined) {
      this.#end(to, reason, now)
      return { rotated: false, ended: true }
    }
    const entry = this.#live.peek(key)
    if (entry === undefined || isTooOld(entry.createdAt, now, this.#t)) return { rotated: false, ended: false }
    const toKey = this.#keyOf(to, now)
    if (toKey !== key) {
      if (this.#endedReason(toKey, now) !== undefined) return { rotated: false, ended: true }
      const other = this.#live.peek(to)
      if (other !== undefined) this.#forget(to, other)
      this.#addAlias(to, key, entry, now)
    }
    entry.lastUsedAt = now
    return { rotated: true, user: entry.user }
  }

  async end (ids: readonly SessionId[], reason: EndReason, now: number): Promise<SessionRecord[]> {
    const ended: SessionRecord[] = []
    for (const id of ids) {
      const key = this.#keyOf(id, now)
      if (this.#endedReason(key, now) !== undefined) continue
      const entry = this.#live.peek(key)
      if (entry !== undefined) ended.push(record(key, entry))
      this.#end(key, reason, now)
    }
    return ended
  }

  async sessionsOf (user: string, now: number): Promise<SessionRecord[]> {
    return this.#recordsOf(user, now).sort((a, b) => a.createdAt - b.createdAt)
  }

  async stats (now: number): Promise<StoreStats> {
    this.#purge(now, Infinity)
    return { live: this.#live.size, ended: this.#ended.size, aliases: this.#aliases.size }
  }

  async close (): Promise<void> {
    this.#live.clear()
    this.#ended.clear()
    this.#aliases.clear()
    this.#byUser.clear()
  }

  /**
   * Everything the store holds, as plain records, for the snapshot: live
   * sessions (with their later cookie ids), aliases, then ended sessions in
   * ending order (the order #purge relies on).
   */
  * records (): Generator<SnapshotRecord> {
    // Taken at once (the LRU's order may change while the snapshot streams out); the Maps iterate safely.
    const live = [...this.#live.rentries() as Generator<[SessionId, LiveEntry]>]
    for (const [key, e] of live) yield e.group === undefined ? ['l', key, e.user, e.createdAt, e.lastUsedAt, e.aliases ?? []] : ['l', key, e.user, e.createdAt, e.lastUsedAt, e.aliases ?? [], e.group]
    for (const [id, a] of this.#aliases) yield ['a', id, a.key, a.at]
    for (const [key, packed] of this.#ended) yield ['e', key, packed]
  }

  /** Takes back one record of a snapshot; what `maxAge` is over for by now is skipped. */
  restore (r: SnapshotRecord, now: number): void {
    if (r[0] === 'l') {
      const [, key, user, createdAt, lastUsedAt, aliases, group] = r
      if (isTooOld(createdAt, now, this.#t)) return
      const entry: LiveEntry = { user, createdAt, lastUsedAt }
      if (aliases.length > 0) entry.aliases = [...aliases]
      if (group !== undefined) entry.group = group
      this.#insert(key, entry)
    } else if (r[0] === 'a') {
      const [, id, key, at] = r
      if (now - at < this.#t.maxAge) this.#aliases.set(id, { key, at })
    } else {
      const [, key, packed] = r
      if (now - endedAt(packed) < this.#t.maxAge) this.#ended.set(key, packed)
    }
  }

  /** The key of the session an id belongs to: itself, or the key of the session it is a later cookie of. */
  #keyOf (id: SessionId, now: number): SessionId {
    const alias = this.#aliases.get(id)
    if (alias === undefined) return id
    if (now - alias.at < this.#t.maxAge) return alias.key
    this.#aliases.delete(id)
    return id
  }

  /** Ends the sessions a login's device carried (other than `keep`); tells whether one of the user's counting ones gave its slot. */
  #endReplaced (a: LoginAttempt, keep: SessionId): { ended: SessionRecord[], tookSlot: boolean } {
    const ended: SessionRecord[] = []
    let tookSlot = false
    for (const old of a.replaces) {
      const key = this.#keyOf(old, a.now)
      if (key === keep || key === a.id) continue
      const entry = this.#live.peek(key)
      if (entry === undefined) continue
      if (entry.user === a.user && counts(entry, a.now, this.#t)) tookSlot = true
      ended.push(record(key, entry))
      this.#end(key, 'replaced', a.now)
    }
    return { ended, tookSlot }
  }

  #addAlias (id: SessionId, key: SessionId, entry: LiveEntry, now: number): void {
    // Re-inserting keeps the Map in time order, which #purge relies on.
    this.#aliases.delete(id)
    this.#aliases.set(id, { key, at: now })
    const list = entry.aliases ??= []
    list.push(id)
    // The newest cookies matter most (they are the ones in use); the oldest go first.
    while (list.length > MAX_ALIASES_PER_SESSION) this.#dropAlias(list.shift() as SessionId, key)
    while (this.#aliases.size > this.#max) {
      const [oldest, alias] = this.#aliases.entries().next().value as [SessionId, Alias]
      this.#dropAlias(oldest, alias.key)
    }
    if (this.#droppedAliases > 0) this.#warnPressure(now)
  }

  #dropAlias (id: SessionId, key: SessionId): void {
    if (this.#aliases.get(id)?.key !== key) return
    this.#aliases.delete(id)
    this.#droppedAliases++
  }

  /** The user's records, with those past `maxAge` removed on the way (the index never only grows). */
  #recordsOf (user: string, now: number): SessionRecord[] {
    const keys = this.#byUser.get(user)
    if (keys === undefined) return []
    const out: SessionRecord[] = []
    for (const key of typeof keys === 'string' ? [keys] : [...keys]) {
      const entry = this.#live.peek(key)
      if (entry === undefined) { this.#unindex(user, key); continue }
      if (isTooOld(entry.createdAt, now, this.#t)) { this.#forget(key, entry); continue }
      out.push(record(key, entry))
    }
    return out
  }

  #endedReason (key: SessionId, now: number): EndReason | undefined {
    const packed = this.#ended.get(key)
    if (packed === undefined) return undefined
    if (now - endedAt(packed) < this.#t.maxAge) return endedReason(packed)
    this.#ended.delete(key)
    return undefined
  }

  #end (key: SessionId, reason: EndReason, now: number): void {
    const entry = this.#live.peek(key)
    if (entry !== undefined) this.#forget(key, entry)
    // Re-inserting keeps the Map in ending order, which #purge relies on.
    this.#ended.delete(key)
    this.#ended.set(key, packEnded(now, reason))
    if (this.#ended.size > this.#max) this.#warnPressure(now)
  }

  #insert (key: SessionId, entry: LiveEntry): void {
    // The LRU drops its least recently used record itself when full (see dispose).
    this.#live.set(key, entry)
    const keys = this.#byUser.get(entry.user)
    if (keys === undefined) this.#byUser.set(entry.user, key)
    else if (typeof keys === 'string') this.#byUser.set(entry.user, new Set([keys, key]))
    else keys.add(key)
    if (this.#droppedUnderPressure > 0) this.#warnPressure(entry.lastUsedAt)
  }

  #forget (key: SessionId, entry: LiveEntry): void {
    this.#live.delete(key)
    this.#unindex(entry.user, key)
  }

  #unindex (user: string, key: SessionId): void {
    const keys = this.#byUser.get(user)
    if (keys === undefined) return
    if (typeof keys === 'string') {
      if (keys === key) this.#byUser.delete(user)
      return
    }
    keys.delete(key)
    if (keys.size === 1) this.#byUser.set(user, keys.values().next().value as SessionId)
    else if (keys.size === 0) this.#byUser.delete(user)
  }

  #warnPressure (now: number): void {
    if (now - this.#lastPressureWarning < WARN_EVERY_MS) return
    this.#lastPressureWarning = now
    if (this.#droppedUnderPressure > 0) {
      this.#events?.warn('memory store full: dropped the least recently used live sessions (they stop counting until their next sign-in); ended sessions are all kept; raise store.maxSessions', {
        maxSessions: this.#max, dropped: this.#droppedUnderPressure
      })
      this.#droppedUnderPressure = 0
    }
    if (this.#droppedAliases > 0) {
      this.#events?.warn(`forgot the oldest cookies of rotated sessions (at most ${MAX_ALIASES_PER_SESSION} per session and store.maxSessions in all are remembered)`, {
        maxSessions: this.#max, dropped: this.#droppedAliases
      })
      this.#droppedAliases = 0
    }
    if (this.#ended.size > this.#max) {
      this.#events?.warn('memory store holds more ended sessions than store.maxSessions; they are all kept until sessions.maxAge is over', {
        maxSessions: this.#max, ended: this.#ended.size
      })
    }
  }

  /** Drops what `maxAge` is over for, starting where it always is: the heads of the time-ordered Maps and the LRU's cold end. */
  #purge (now: number, max: number): void {
    for (const [key, packed] of this.#ended) {
      if (now - endedAt(packed) < this.#t.maxAge) break
      this.#ended.delete(key)
    }
    for (const [id, alias] of this.#aliases) {
      if (now - alias.at < this.#t.maxAge) break
      this.#aliases.delete(id)
    }
    // Live records unused for longer than maxAge are certainly too old. (A
    // too-old record still in use is caught by its next check instead.)
    const stale: Array<[SessionId, LiveEntry]> = []
    // lru-cache types rentries() loosely as (K | V)[]; each item is a [key, value] pair.
    for (const [key, entry] of this.#live.rentries() as Generator<[SessionId, LiveEntry]>) {
      if (stale.length >= max || now - entry.lastUsedAt < this.#t.maxAge) break
      stale.push([key, entry])
    }
    for (const [key, entry] of stale) this.#forget(key, entry)
  }
}

/** One line of a memory store snapshot (see snapshot.ts). */
export type SnapshotRecord =
  | ['l', SessionId, string, number, number, SessionId[]]
  | ['l', SessionId, string, number, number, SessionId[], string]
  | ['a', SessionId, SessionId, number]
  | ['e', SessionId, number]

function record (key: SessionId, entry: LiveEntry): SessionRecord {
  const r: SessionRecord = { id: key, user: entry.user, createdAt: entry.createdAt, lastUsedAt: entry.lastUsedAt }
  if (entry.group !== undefined) r.group = entry.group
  return r
}

/** The record of an admitted session (the group only when there is one: most sessions have none, and records are many). */
function entryOf (a: LoginAttempt, createdAt: number): LiveEntry {
  const e: LiveEntry = { user: a.user, createdAt, lastUsedAt: a.now }
  if (a.group !== undefined) e.group = a.group
  return e
}
