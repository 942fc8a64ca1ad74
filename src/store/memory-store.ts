import { LRUCache } from 'lru-cache'
import { counts, END_REASONS, isIdle, isTooOld, type EndedBy, type EndReason, type SessionId, type SessionRecord, type Timeouts } from '../domain/session.js'
import { decide, type DecidingPolicy } from '../domain/policy.js'
import type { AdmitResult, LoginAttempt, RotateResult, SessionState, SessionStore, SettleResult, StoreEvents, StoreStats } from './store.js'
import { MAX_ALIASES_PER_SESSION } from './store.js'
import { EndedSet, type EndedChunk } from './ended-set.js'
import { errors } from '../errors.js'

export interface MemoryStoreOptions {
  /** Most tracked (live) sessions kept in memory; also the bound on remembered old cookies. */
  maxSessions: number
  /** Most ended sessions kept; at the bound, new sign-ins are refused (see `#ensureRoom`). Default: 10 × maxSessions. */
  maxEnded?: number
  timeouts: Timeouts
  events?: StoreEvents
}

/**
 * Who ended a session and whose it was are kept for this many of the latest
 * endings (the signed-out page shows the device; the refused request's log
 * line names the user): details that may be forgotten, unlike the ending.
 */
export const ENDED_DETAILS = 100_000
/** Above this share of `maxEnded`, the store warns (at most once a minute). */
export const ENDED_WARN_SHARE = 0.8

/**
 * A live session's record. A class whose constructor sets every field (the
 * optional ones to undefined), so each of the many records is one fixed-shape
 * V8 object with all its fields inside it (88 bytes); an object literal
 * given its optional fields only when set spilled them into a second array
 * (56 + 40 bytes).
 */
class LiveEntry {
  user: string
  createdAt: number
  lastUsedAt: number
  group: string | undefined
  device: string | undefined
  ip: string | undefined
  /** Pending (policy ask) until then; undefined for a session that counts. */
  pendingUntil: number | undefined
  /** The session's later cookie ids (rotations), oldest first; undefined until the first rotation. */
  aliases: SessionId[] | undefined

  constructor (user: string, createdAt: number, lastUsedAt: number, group?: string, device?: string, ip?: string, pendingUntil?: number, aliases?: SessionId[]) {
    this.user = user
    this.createdAt = createdAt
    this.lastUsedAt = lastUsedAt
    this.group = group
    this.device = device
    this.ip = ip
    this.pendingUntil = pendingUntil
    this.aliases = aliases
  }
}

interface Alias {
  /** The session's key: the id of its first cookie. */
  key: SessionId
  at: number
}

const WARN_EVERY_MS = 60_000
/** Stale live records removed per login, so the clean-up never makes one login slow. */
const PURGE_BATCH = 64

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
 * Ended records are kept apart, as fingerprints in time buckets (ended-set.ts)
 * that pressure on live records never touches: forgetting one would let a
 * session back in. They leave with their bucket once `maxAge` is over for it.
 * Their number is bounded by `maxEnded`: at the bound, new sign-ins are
 * refused rather than any ending forgotten (`#ensureRoom`). Old cookie ids are
 * bounded per session and in all.
 *
 * Every method runs to completion without awaiting, so each is atomic with
 * respect to every other request in this process.
 */
export class MemoryStore implements SessionStore {
  readonly kind = 'memory'
  readonly #live: LRUCache<SessionId, LiveEntry>
  readonly #ended: EndedSet
  /** Who ended a session and whose it was, for the latest endings only (the signed-out page says it when it can). */
  readonly #endedBy = new LRUCache<SessionId, EndedDetails>({ max: ENDED_DETAILS })
  readonly #maxEnded: number
  readonly #aliases = new Map<SessionId, Alias>()
  /** user → their session keys: one key held as a string (the common case), several as a Set. */
  readonly #byUser = new Map<string, SessionId | Set<SessionId>>()
  readonly #max: number
  readonly #t: Timeouts
  readonly #events: StoreEvents | undefined
  #droppedUnderPressure = 0
  #droppedAliases = 0
  #lastPressureWarning = -Infinity
  #lastEndedWarning = -Infinity
  #lastFullError = -Infinity

  constructor (opts: MemoryStoreOptions) {
    this.#max = opts.maxSessions
    this.#maxEnded = opts.maxEnded ?? 10 * opts.maxSessions
    this.#t = opts.timeouts
    this.#ended = new EndedSet(opts.timeouts.maxAge)
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
    return this.#answer(id, now)
  }

  /** Always answers (everything is in memory); typed as the interface's, so a test double may decline. */
  checkCached (id: SessionId, now: number): SessionState | undefined {
    return this.#answer(id, now)
  }

  #answer (id: SessionId, now: number): SessionState {
    const key = this.#keyOf(id, now)
    // A tracked session is never also ended (ending one forgets its record,
    // and an ended id is never admitted): the common case asks the live
    // records alone.
    const entry = this.#live.get(key)
    if (entry === undefined) {
      const reason = this.#ended.get(key, now)
      if (reason === undefined) return { state: 'unknown' }
      return endedState(reason, key, this.#endedBy.get(key))
    }
    if (isTooOld(entry.createdAt, now, this.#t)) {
      this.#forget(key, entry)
      return { state: 'unknown' }
    }
    if (entry.pendingUntil !== undefined) {
      const pending: SessionState = { state: 'pending', user: entry.user, slot: key, until: entry.pendingUntil }
      if (entry.group !== undefined) pending.group = entry.group
      return pending
    }
    if (isIdle(entry.lastUsedAt, now, this.#t)) return entry.group === undefined ? { state: 'idle', user: entry.user, slot: key } : { state: 'idle', user: entry.user, slot: key, group: entry.group }
    entry.lastUsedAt = now
    return { state: 'live', user: entry.user, slot: key }
  }

  async admit (a: LoginAttempt): Promise<AdmitResult> {
    this.#purge(a.now, PURGE_BATCH)
    this.#ensureRoom(a.now)
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
    let meta = a.meta
    const stale = this.#live.peek(a.id)
    if (stale !== undefined) {
      // An idle session coming back keeps its login time (its maxAge runs
      // from it) and what is known of the device it signed in from.
      if (stale.user === a.user && !isTooOld(stale.createdAt, a.now, this.#t)) {
        createdAt = stale.createdAt
        meta ??= { device: stale.device, ip: stale.ip }
      }
      this.#forget(a.id, stale)
    }
    a = meta === a.meta ? a : { ...a, meta }

    if (tookSlot || a.limit === 0) {
      this.#insert(a.id, entryOf(a, createdAt))
      return { admitted: true, ended: replaced }
    }
    const decision = decide(this.#counting(a.user, a.now), a.limit, a.policy)
    if (!decision.admit) {
      // The app has already created this session; it must not be usable.
      // Refused, not ended by another device: no `by`.
      this.#end(a.id, 'concurrent_login_limit', a.now, undefined, a.user)
      return { admitted: false, reason: 'limit' }
    }
    if ('pending' in decision) {
      this.#insert(a.id, entryOf(a, createdAt, a.now + (a.askTimeout ?? 0)))
      return { admitted: true, ended: replaced, pending: true }
    }
    for (const victim of decision.end) this.#end(victim.id, 'concurrent_login_limit', a.now, byOf(a))
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

  async settle (key: SessionId, policy: DecidingPolicy | 'ask', limit: number, now: number): Promise<SettleResult> {
    if (this.#endedReason(key, now) !== undefined) return { state: 'ended' }
    const entry = this.#live.peek(key)
    if (entry === undefined || isTooOld(entry.createdAt, now, this.#t)) return { state: 'unknown' }
    if (entry.pendingUntil === undefined) return { state: 'live', ended: [] }
    const decision = decide(this.#counting(entry.user, now), limit, policy)
    const by = { device: entry.device, ip: entry.ip }
    if (!decision.admit) {
      this.#end(key, 'concurrent_login_limit', now)
      return { state: 'ended' }
    }
    if ('pending' in decision) return { state: 'pending' }
    for (const victim of decision.end) this.#end(victim.id, 'concurrent_login_limit', now, by)
    entry.pendingUntil = undefined
    entry.lastUsedAt = now
    return { state: 'live', ended: decision.end }
  }

  async end (ids: readonly SessionId[], reason: EndReason, now: number, by?: EndedBy): Promise<SessionRecord[]> {
    const ended: SessionRecord[] = []
    for (const id of ids) {
      const key = this.#keyOf(id, now)
      if (this.#endedReason(key, now) !== undefined) continue
      const entry = this.#live.peek(key)
      if (entry !== undefined) ended.push(record(key, entry))
      this.#end(key, reason, now, by)
    }
    return ended
  }

  async sessionsOf (user: string, now: number): Promise<SessionRecord[]> {
    return this.#recordsOf(user, now).sort((a, b) => a.createdAt - b.createdAt)
  }

  async * users (now: number): AsyncIterable<string> {
    // A copy: the caller may end sessions (and so change the index) between users.
    for (const user of [...this.#byUser.keys()]) {
      if (this.#recordsOf(user, now).length > 0) yield user
    }
  }

  async ping (): Promise<void> {}

  async stats (now: number): Promise<StoreStats> {
    this.#purge(now, Infinity)
    return { live: this.#live.size, ended: this.#ended.size(now), aliases: this.#aliases.size }
  }

  async close (): Promise<void> {
    this.#live.clear()
    this.#ended.clear()
    this.#endedBy.clear()
    this.#aliases.clear()
    this.#byUser.clear()
  }

  /**
   * Everything the store holds, as plain records, for the snapshot: live
   * sessions (with their later cookie ids), aliases, ended sessions (their
   * fingerprints, a chunk of a time bucket per record), then who ended the
   * latest ones.
   */
  * records (now: number): Generator<SnapshotRecord> {
    // Taken at once (the LRU's order may change while the snapshot streams out); the Maps iterate safely.
    const live = [...this.#live.rentries() as Generator<[SessionId, LiveEntry]>]
    for (const [key, e] of live) yield ['s', key, compact(e)]
    for (const [id, a] of this.#aliases) yield ['a', id, a.key, a.at]
    for (const chunk of this.#ended.chunks(now)) yield ['f', ...chunk]
    for (const [key, details] of [...this.#endedBy.rentries() as Generator<[SessionId, EndedDetails]>]) yield ['b', key, details]
  }

  /**
   * Takes back one record of a snapshot; what `maxAge` is over for by now is
   * skipped, and so is anything not shaped like a record (a file is input).
   * Reads the records of version 1 files too (`l` live records; `e`/`E`
   * ended ones, by id, with the time and reason packed in one number), so an
   * upgrade keeps every session.
   */
  restore (line: unknown, now: number): void {
    if (!Array.isArray(line)) return
    const r = line as unknown[]
    if (r[0] === 'f') {
      this.#ended.restore(r.slice(1) as EndedChunk, now)
      return
    }
    if (typeof r[1] !== 'string') return
    const key: SessionId = r[1]
    if (r[0] === 's' || r[0] === 'l') {
      const entry = r[0] === 's' ? liveEntryFrom(r[2]) : liveEntryFrom({ user: r[2], createdAt: r[3], lastUsedAt: r[4], aliases: r[5], group: r[6] })
      if (entry !== undefined && !isTooOld(entry.createdAt, now, this.#t)) this.#insert(key, entry)
    } else if (r[0] === 'a' && typeof r[2] === 'string' && typeof r[3] === 'number') {
      if (now - r[3] < this.#t.maxAge) this.#aliases.set(key, { key: r[2], at: r[3] })
    } else if (r[0] === 'b') {
      const by = endedByFrom(r[2])
      if (by !== undefined && now - by.at < this.#t.maxAge) this.#endedBy.set(key, by)
    } else if ((r[0] === 'e' || r[0] === 'E') && typeof r[2] === 'number' && Number.isSafeInteger(r[2]) && r[2] >= 0) {
      // Version 1: endedAt * 8 + the reason's index.
      const at = Math.floor(r[2] / 8)
      const reason = END_REASONS[r[2] % 8]
      if (reason === undefined || now - at >= this.#t.maxAge) return
      this.#ended.add(key, reason, at)
      const by = r[0] === 'E' ? endedByFrom(r[3]) : undefined
      if (by !== undefined) this.#endedBy.set(key, by)
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
      // A pending session holds no slot to hand over.
      if (entry.user === a.user && counts(entry, a.now, this.#t)) tookSlot = true
      ended.push(record(key, entry))
      this.#end(key, 'replaced', a.now)
    }
    return { ended, tookSlot }
  }

  #addAlias (cookieId: SessionId, key: SessionId, entry: LiveEntry, now: number): void {
    const id = own(cookieId)
    // Re-inserting keeps the Map in time order, which #purge relies on.
    this.#aliases.delete(id)
    this.#aliases.set(id, { key: own(key), at: now })
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

  /** The user's sessions that count now (not idle, not pending). */
  #counting (user: string, now: number): SessionRecord[] {
    return this.#recordsOf(user, now).filter((r) => counts(r, now, this.#t))
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
    return this.#ended.get(key, now)
  }

  /** `user`: whose it was, for a session not live here (a refused newcomer); a live one says it itself. */
  #end (key: SessionId, reason: EndReason, now: number, by?: Omit<EndedBy, 'at'>, user?: string): void {
    const entry = this.#live.peek(key)
    if (entry !== undefined) this.#forget(key, entry)
    // An id already ended keeps its first reason (and whoever ended it first).
    if (!this.#ended.add(key, reason, now)) return
    // The user's name is the live record's own string: kept here, it costs a pointer.
    this.#endedBy.set(own(key), compact({ at: now, device: by?.device, ip: by?.ip, user: entry?.user ?? user }))
  }

  /**
   * `maxEnded`: at the bound, a new session is refused (its cookie never
   * reaches the client, so nothing needs recording) rather than any ending
   * forgotten — forgetting one would let an ended session of anyone back in
   * silently. Endings themselves are still recorded (a logout, an
   * administrator's end): they are bounded by the live sessions, which can
   * each end once, so memory stays within maxEnded plus maxSessions.
   */
  #ensureRoom (now: number): void {
    const ended = this.#ended.size(now)
    if (ended < this.#maxEnded * ENDED_WARN_SHARE) return
    const details = { ended, maxEnded: this.#maxEnded }
    if (ended >= this.#maxEnded) {
      if (now - this.#lastFullError >= WARN_EVERY_MS) {
        this.#lastFullError = now
        const report = this.#events?.error ?? this.#events?.warn
        report?.('memory store holds store.maxEnded ended sessions: new sign-ins are refused until the oldest endings are over (sessions.maxAge); raise store.maxEnded, or find the account that signs in again and again', details)
      }
      throw new errors.STORE_FULL()
    }
    if (now - this.#lastEndedWarning >= WARN_EVERY_MS) {
      this.#lastEndedWarning = now
      this.#events?.warn(`memory store holds over ${ENDED_WARN_SHARE * 100}% of store.maxEnded ended sessions; at the bound new sign-ins are refused`, details)
    }
  }

  #insert (id: SessionId, entry: LiveEntry): void {
    const key = own(id)
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
  }

  /** Drops what `maxAge` is over for, starting where it always is: the head of the time-ordered alias Map and the LRU's cold end (ended sessions go with their buckets). */
  #purge (now: number, max: number): void {
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

/** One line of a memory store snapshot (see snapshot.ts); version 1 files may also hold `l`, `e` and `E` records (read, never written). */
export type SnapshotRecord =
  | ['s', SessionId, LiveEntry]
  | ['a', SessionId, SessionId, number]
  | ['f', ...EndedChunk]
  | ['b', SessionId, EndedDetails]

/** What is kept of a recent ending beside the ending itself: who ended it (EndedBy) and whose session it was. */
interface EndedDetails extends EndedBy {
  user?: string
}

/** The answer for an ended session: its key, and what the details still say (the device that ended it, the user). */
function endedState (reason: EndReason, key: SessionId, details: EndedDetails | undefined): SessionState {
  const state: SessionState & { state: 'ended' } = { state: 'ended', reason, key }
  if (details === undefined) return state
  if (details.user !== undefined) state.user = details.user
  if (details.device !== undefined || details.ip !== undefined) state.by = compact({ at: details.at, device: details.device, ip: details.ip })
  return state
}

const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
const num = (v: unknown): number | undefined => typeof v === 'number' && Number.isFinite(v) ? v : undefined

/** A live entry read from a snapshot, field by field; undefined if it is not one. */
function liveEntryFrom (value: unknown): LiveEntry | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const v = value as Record<string, unknown>
  const user = str(v.user)
  const createdAt = num(v.createdAt)
  const lastUsedAt = num(v.lastUsedAt)
  if (user === undefined || createdAt === undefined || lastUsedAt === undefined) return undefined
  const aliases = Array.isArray(v.aliases) && v.aliases.length > 0 ? v.aliases.filter((a): a is string => typeof a === 'string') : undefined
  return new LiveEntry(user, createdAt, lastUsedAt, str(v.group), str(v.device), str(v.ip), num(v.pendingUntil), aliases)
}

function endedByFrom (value: unknown): EndedDetails | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const v = value as Record<string, unknown>
  const at = num(v.at)
  return at === undefined ? undefined : compact({ at, device: str(v.device), ip: str(v.ip), user: str(v.user) })
}

function record (key: SessionId, entry: LiveEntry): SessionRecord {
  return compact({ id: key, user: entry.user, createdAt: entry.createdAt, lastUsedAt: entry.lastUsedAt, group: entry.group, device: entry.device, ip: entry.ip, pendingUntil: entry.pendingUntil })
}

/** The record of an admitted session. */
function entryOf (a: LoginAttempt, createdAt: number, pendingUntil?: number): LiveEntry {
  return new LiveEntry(a.user, createdAt, a.now, a.group, a.meta?.device, a.meta?.ip, pendingUntil)
}

/**
 * A string of its own for an id the store keeps. A cookie's id is cut from
 * its longer HMAC (a V8 "sliced string" that keeps the whole 43-character
 * parent alive); a flat copy of the 22 characters is ~50 bytes less per
 * session. Done where an id is kept (a record, a later cookie, an ending), not per request.
 */
function own (id: string): string {
  return Buffer.from(id, 'latin1').toString('latin1')
}

/** Who ended sessions while admitting a login: its device. */
function byOf (a: LoginAttempt): Omit<EndedBy, 'at'> | undefined {
  return a.meta === undefined ? undefined : { device: a.meta.device, ip: a.meta.ip }
}

/**
 * A copy without the undefined fields (they would cost memory in every
 * record). Copied, not deleted from: deleting a property turns a V8 object
 * into a dictionary (several times the size of a fast object), and records
 * are many (~800 bytes per session measured with `delete`).
 */
function compact<T extends object> (o: T): T {
  const out: Partial<T> = {}
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k]
  return out as T
}
