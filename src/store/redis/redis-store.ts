import { randomUUID } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { ClientContext, Redis, Result } from 'ioredis'
import type { Config } from '../../config/schema.js'
import { END_REASONS, type EndedBy, type EndReason, type SessionId, type SessionMeta, type SessionRecord, type Timeouts } from '../../domain/session.js'
import type { DecidingPolicy } from '../../domain/policy.js'
import { errors } from '../../errors.js'
import { MAX_ALIASES_PER_SESSION, type AdmitResult, type LoginAttempt, type RotateResult, type SessionState, type SessionStore, type SettleResult, type StoreEvents, type StoreStats } from '../store.js'
import { createRedisClient, type RedisClient } from './connect.js'
import { aliasListKey, beatChannel, decodePointer, endedChannel, pointerKey, userKeys } from './keys.js'
import { ADMIT, CHECK, CONFIRM, DROP_POINTER, END, END_POINTER, ROTATE, SESSIONS, SET_POINTER, SETTLE, STATS, TOMBSTONES, TOUCH } from './scripts.js'
import { ENDED_ADD, ENDED_LOOKUP, EndedIndexKeys, indexSlot, reasonNumber, reasonOf, type IndexEntry } from './ended-index.js'
import { ENDED_WARN_SHARE } from '../memory-store.js'

// The scripts, as ioredis commands (EVALSHA, falling back to EVAL once per
// server). Typed by augmenting RedisCommander, as ioredis's own example does.
type ScriptArg = string | number
declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    scCheck: (...args: ScriptArg[]) => Result<unknown, Context>
    scTouch: (...args: ScriptArg[]) => Result<unknown, Context>
    scAdmit: (...args: ScriptArg[]) => Result<unknown, Context>
    scRotate: (...args: ScriptArg[]) => Result<unknown, Context>
    scEnd: (...args: ScriptArg[]) => Result<unknown, Context>
    scSessions: (...args: ScriptArg[]) => Result<unknown, Context>
    scStats: (...args: ScriptArg[]) => Result<unknown, Context>
    scSetPointer: (...args: ScriptArg[]) => Result<unknown, Context>
    scEndPointer: (...args: ScriptArg[]) => Result<unknown, Context>
    scSettle: (...args: ScriptArg[]) => Result<unknown, Context>
    scDropPointer: (...args: ScriptArg[]) => Result<unknown, Context>
    scTombstones: (...args: ScriptArg[]) => Result<unknown, Context>
    scConfirm: (...args: ScriptArg[]) => Result<unknown, Context>
    scEndedLookup: (...args: ScriptArg[]) => Result<unknown, Context>
    scEndedAdd: (...args: ScriptArg[]) => Result<unknown, Context>
  }
}

// `keys` undefined: the caller passes the number of keys first.
const SCRIPTS: Record<string, { lua: string, keys?: number }> = {
  scCheck: { lua: CHECK, keys: 6 },
  scTouch: { lua: TOUCH },
  scAdmit: { lua: ADMIT, keys: 6 },
  scSettle: { lua: SETTLE, keys: 6 },
  scRotate: { lua: ROTATE, keys: 7 },
  scEnd: { lua: END, keys: 6 },
  scSessions: { lua: SESSIONS, keys: 6 },
  scStats: { lua: STATS, keys: 6 },
  scSetPointer: { lua: SET_POINTER, keys: 1 },
  scEndPointer: { lua: END_POINTER, keys: 1 },
  scDropPointer: { lua: DROP_POINTER, keys: 1 },
  scTombstones: { lua: TOMBSTONES, keys: 6 },
  scConfirm: { lua: CONFIRM, keys: 6 },
  scEndedLookup: { lua: ENDED_LOOKUP },
  scEndedAdd: { lua: ENDED_ADD }
}

/**
 * Keys outlive the data they hold by this much, so a clock a little off never
 * drops a record early: an hour, or maxAge where that is shorter (a short
 * maxAge must not keep its data for an hour: with maxAge 2m, 30 times as long).
 */
const TTL_MARGIN_MS = 3_600_000
const LOCAL_ENTRIES = 100_000
/** Writes that failed during an outage, kept to be made when Redis is back. */
const MAX_PENDING = 10_000
/** Uses of sessions (touches) are written together, this long after the first of a batch. */
const TOUCH_BATCH_MS = 500
/** Sessions per TOUCH call (one on Cluster). */
const TOUCH_BATCH_MAX = 500
/** Ended records copied from a user's keys to the index per round (#drain). */
const DRAIN_BATCH = 500
/** How long the count of ended sessions (for store.maxEnded) is trusted before it is read again. */
const COUNT_TTL_MS = 5_000
const WARN_EVERY_MS = 60_000

interface CacheEntry {
  state: SessionState
  /** The session's key (the id itself for unknown ids). */
  key: SessionId
  /** When this answer came from Redis (gateway clock). */
  at: number
  /** When this gateway last wrote a use of the session to Redis. */
  touchedAt: number
  /** When the session reaches `maxAge` (live answers only): no cached answer outlives it. */
  expiresAt: number
}

export interface RedisStoreOptions {
  store: Config['store']
  timeouts: Timeouts
  events: StoreEvents
  /** The gateway's clock: for outage durations in the log. */
  now?: () => number
}

/**
 * The shared store: every gateway of a fleet keeps its sessions in one Redis
 * (standalone, Sentinel or Cluster), and enforces one limit with the others.
 *
 * - Deciding a login (admit, choose what to end, record it) is one Lua script
 *   on the user's keys, atomic and idempotent (scripts.ts). The few commands
 *   around it (the cookie's pointer, another user's ended session) are sent
 *   at the same time, so a login costs one round trip.
 * - The hot path does not wait on Redis when nothing changed: each gateway
 *   remembers what Redis said about a cookie for `cacheTtl`, and writes a
 *   session's last use at most every `touchInterval`, in the background.
 * - A session ended anywhere is announced on a pub/sub channel by the very
 *   script that records the ending (scripts.ts), and heard on a connection
 *   of its own; every gateway marks it ended at once. While the
 *   subscription is not up, the cache is not used; when it comes back, the
 *   cache is dropped (messages may have been missed).
 * - Each gateway publishes a heartbeat every second on a channel of its own
 *   and hears it back on the same connection: Redis delivers a connection's
 *   messages in the order it processed their PUBLISH, so every ending
 *   recorded before the heartbeat has then arrived. While that proof is
 *   fresh (younger than `cacheTtl`), a live session's cached answer is
 *   trusted up to `cacheMaxTtl` instead of `cacheTtl`: an ending is still
 *   seen within `cacheTtl` of being recorded, and only a change no script
 *   made (keys edited by hand) can go unseen longer. Not on Cluster, where
 *   messages published on different nodes are not ordered.
 * - Every operation gives up after `commandTimeout`; the caller then gets
 *   SESSIONCAP_ERR_STORE_UNAVAILABLE and applies `onError`. Ended sessions
 *   this gateway knows of are refused even while Redis is away, and endings
 *   and rotations that could not be written are written when it is back. An
 *   outage is logged once when it starts and once when it ends.
 */
export class RedisStore implements SessionStore {
  readonly kind = 'redis'
  readonly #client: RedisClient
  readonly #sub: RedisClient
  readonly #prefix: string
  readonly #t: Timeouts
  readonly #store: Config['store']
  readonly #events: StoreEvents
  readonly #clock: () => number
  readonly #ttl: number
  readonly #ttlMargin: number
  readonly #cache = new LRUCache<SessionId, CacheEntry>({ max: LOCAL_ENTRIES })
  /** Cookie id → its user, as the id's pointer says (re-read when Redis no longer knows the id there). */
  readonly #users = new LRUCache<SessionId, string>({ max: LOCAL_ENTRIES })
  /** Session keys this gateway knows are ended, with when, by what device and whose: kept through outages. */
  readonly #endedLocal = new LRUCache<SessionId, KnownEnding>({ max: LOCAL_ENTRIES })
  readonly #pending: Array<() => Promise<void>> = []
  #healthy = true
  #listening = false
  /** Heartbeats: this gateway's tag, the ones sent and not yet heard back (number → when sent). */
  readonly #tag = randomUUID()
  readonly #beatsSent = new Map<number, number>()
  #beats = 0
  #beatTimer: NodeJS.Timeout | undefined
  /** When the first heartbeat since the (re)subscription was heard: answers read since are covered by the proof. */
  #provenSince: number | undefined
  /** When the last heartbeat heard back was sent: every announcement made before then has arrived. */
  #provenAt = Number.NEGATIVE_INFINITY
  /**
   * Until when answers get `cacheTtl` only because a gateway of an earlier
   * version was heard: it announces endings itself, after its script
   * answered, so an ending of its can go unannounced.
   */
  #olderGatewayUntil = Number.NEGATIVE_INFINITY
  /** Uses waiting to be written (session key → its user and when it was used). */
  readonly #touches = new Map<SessionId, { user: string, at: number }>()
  #touchTimer: NodeJS.Timeout | undefined
  #downSince = 0
  #unconfirmed = 0
  readonly #index: EndedIndexKeys
  /** Users whose ended records are being copied to the index now: true when more were ended meanwhile (another round follows). */
  readonly #draining = new Map<string, boolean>()
  /** The fleet's count of ended sessions in the index (store.maxEnded), and when it was read. */
  #endedCount = 0
  #endedCountAt = Number.NEGATIVE_INFINITY
  #lastEndedWarning = Number.NEGATIVE_INFINITY
  #evictionChecked = false
  #flushing = false
  #closed = false

  private constructor (opts: RedisStoreOptions, client: RedisClient, sub: RedisClient) {
    this.#client = client
    this.#sub = sub
    this.#store = opts.store
    this.#prefix = opts.store.keyPrefix
    this.#t = opts.timeouts
    this.#events = opts.events
    this.#clock = opts.now ?? Date.now
    this.#ttlMargin = Math.min(TTL_MARGIN_MS, opts.timeouts.maxAge)
    this.#ttl = opts.timeouts.maxAge + this.#ttlMargin
    this.#index = new EndedIndexKeys(this.#prefix, opts.timeouts.maxAge)
  }

  /**
   * Connects (without waiting long: a gateway starts even when Redis is
   * down, and applies `onError` until it is up).
   */
  static async connect (opts: RedisStoreOptions): Promise<RedisStore> {
    const client = createRedisClient(opts.store)
    const sub = createRedisClient(opts.store, { subscriber: true })
    for (const [name, { lua, keys }] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: keys })
    const store = new RedisStore(opts, client, sub)
    client.on('error', (err: Error) => { store.#markDown(err) })
    client.on('ready', () => {
      store.#markUp()
      // Once per gateway, on its first connection however late (a Redis still starting, a slow machine).
      if (!store.#evictionChecked) store.#checkEvictionPolicy()
    })
    client.on('close', () => { if (!store.#closed) store.#markDown(new Error('connection closed')) })
    sub.on('error', () => { /* the main connection reports outages */ })
    // ioredis subscribes again by itself after every reconnection; until it
    // has, announcements may be missed, so the cache is not trusted.
    sub.on('close', () => { store.#listening = false; store.#unproven() })
    // 'ready' comes once the (re)subscription has been sent; what was cached
    // while it was down may have missed announcements.
    sub.on('ready', () => { store.#cache.clear(); store.#listening = true })
    const beats = beatChannel(opts.store.keyPrefix, store.#tag)
    sub.on('message', (channel: string, message: string) => {
      if (channel === beats) store.#heardBeat(Number(message))
      else store.#heard(message)
    })
    // Queued by the subscriber's offline queue until it first connects, however late that is.
    sub.subscribe(endedChannel(opts.store.keyPrefix), beats).catch(() => { /* retried on reconnection */ })
    sub.connect().catch(() => { /* reconnects by itself */ })
    if (opts.store.cluster === undefined && opts.store.cacheMaxTtl > opts.store.cacheTtl && opts.store.cacheTtl > 0) {
      store.#beatTimer = setInterval(() => { store.#beat() }, Math.min(1_000, Math.max(50, opts.store.cacheTtl / 2)))
      store.#beatTimer.unref()
    }
    const wait = Math.max(2_000, opts.store.commandTimeout * 10)
    await settleWithin(client.connect(), wait).catch((err: unknown) => { store.#markDown(err as Error) })
    return store
  }

  checkCached (id: SessionId, now: number): SessionState | undefined {
    const cached = this.#cache.get(id)
    const key = cached?.key ?? id
    const endedKey = this.#knownEndedEntry(key, now) !== undefined ? key : id
    const known = this.#knownEndedEntry(endedKey, now)
    if (known !== undefined) {
      const state: SessionState = { state: 'ended', reason: known.reason, key: known.key ?? endedKey }
      if (known.by !== undefined) state.by = known.by
      // Whose: as the ending said, or as this gateway last knew the cookie (an ending heard from the fleet does not say).
      const user = known.user ?? this.#users.get(id) ?? (cached?.state.state === 'live' || cached?.state.state === 'idle' ? cached.state.user : undefined)
      if (user !== undefined) state.user = user
      return state
    }
    if (cached !== undefined && this.#listening && this.#trusted(cached, now)) {
      if (cached.state.state === 'live') this.#touchLater(cached, now)
      return cached.state
    }
    return undefined
  }

  /** Whether a cached answer may still be used without asking Redis (see the class comment). */
  #trusted (entry: CacheEntry, now: number): boolean {
    const age = now - entry.at
    if (age < this.#store.cacheTtl) return true
    if (entry.state.state !== 'live' || age >= this.#store.cacheMaxTtl || now >= entry.expiresAt) return false
    // Redis's last use is at least the last one this gateway wrote (or, for
    // an answer, one `touchInterval` before it), once the batch holding it
    // has landed.
    const idle = this.#t.idleTimeout
    if (idle > 0 && now - entry.touchedAt + this.#store.touchInterval + TOUCH_BATCH_MS + this.#store.commandTimeout >= idle) return false
    // Strictly later than the first heartbeat heard: the question went out after the subscription was up.
    return this.#provenSince !== undefined && entry.at > this.#provenSince && now - this.#provenAt < this.#store.cacheTtl && now >= this.#olderGatewayUntil
  }

  async check (id: SessionId, now: number): Promise<SessionState> {
    const answered = this.checkCached(id, now)
    if (answered !== undefined) return answered
    const cached = this.#cache.get(id)
    let state: SessionState
    let createdAt = now
    let endedAt: number | undefined
    try {
      ({ state, createdAt, endedAt } = await this.#lookup(id, now))
    } catch (err) {
      // Redis is away. What this gateway last heard of the session still
      // tells whose it is (so a logout or rotation can be recorded later):
      // under fail-open, however old; under fail-closed, only while fresh.
      if (cached !== undefined && (this.#store.onError === 'fail-open' || now - cached.at < this.#store.cacheTtl)) return cached.state
      throw err
    }
    const slot = state.state === 'live' || state.state === 'idle' || state.state === 'pending' ? state.slot : id
    if (state.state === 'ended') {
      const before = this.#knownEndedEntry(slot, now)
      state.key ??= before?.key ?? slot
      this.#endedLocal.set(slot, compactKnown({ reason: state.reason, at: endedAt ?? now, by: state.by ?? before?.by, user: state.user ?? before?.user, key: state.key }))
    }
    this.#cache.set(id, { state, key: slot, at: now, touchedAt: now, expiresAt: createdAt + this.#t.maxAge })
    return state
  }

  /** What Redis says of a cookie id, with when its session was created (live answers; `now` otherwise). */
  async #lookup (id: SessionId, now: number): Promise<Checked> {
    return await this.#run(async () => {
      // The session's key, once a user's keys said they do not track it: an
      // ended session that was copied to the index is looked up there by it.
      let key = id
      const remembered = this.#users.get(id)
      if (remembered !== undefined) {
        const found = parseCheck(await this.#client.scCheck(...this.#keyArgs(remembered, now), id, this.#store.touchInterval), remembered, now)
        if (found.state.state !== 'unknown') return found
        key = found.key ?? id
        // Not (or no longer) that user's: the app may have handed the cookie to someone else.
        this.#users.delete(id)
      }
      const pointer = decodePointer(await this.#client.get(pointerKey(this.#prefix, id)))
      if (pointer?.kind === 'ended' && now - pointer.endedAt < this.#t.maxAge) {
        // Written by an earlier version (ids ended for no known user); the index holds them now.
        return { state: { state: 'ended', reason: asReason(pointer.reason) }, createdAt: now }
      }
      if (pointer?.kind === 'user' && pointer.user !== remembered) {
        const found = parseCheck(await this.#client.scCheck(...this.#keyArgs(pointer.user, now), id, this.#store.touchInterval), pointer.user, now)
        if (found.state.state !== 'unknown') {
          this.#users.set(id, pointer.user)
          return found
        }
        key = found.key ?? key
      }
      const ended = (await this.#indexLookup([key], now)).get(key)
      return ended === undefined ? { state: { state: 'unknown' }, createdAt: now } : { state: { state: 'ended', reason: ended.reason, key }, createdAt: now, endedAt: ended.at }
    })
  }

  async admit (a: LoginAttempt): Promise<AdmitResult> {
    this.#ensureRoom(a.now)
    try {
      return await this.#run(async () => {
        // Which sessions were used last can decide which one ends.
        void this.#writeTouches()
        const byUser = this.#groupByUser(await this.#usersOf(a.replaces))
        // The cookie's pointer, the device's sessions of other users, and the
        // admission itself go out together: one round trip.
        const pointer = this.#client.scSetPointer(pointerKey(this.#prefix, a.id), a.now, this.#t.maxAge, this.#ttl, a.user) as Promise<unknown[]>
        const by = a.meta ?? {}
        const others = [...byUser].filter(([user]) => user !== a.user).map(async ([user, ids]) => {
          const keep = ids.filter((id) => id !== a.id)
          if (keep.length === 0) return []
          return await this.#endOn(user, keep, 'replaced', a.now, compactBy({ ...by, at: a.now }))
        })
        const same = byUser.get(a.user) ?? []
        const admission = this.#client.scAdmit(...this.#keyArgs(a.user, a.now), a.id, a.limit, a.policy, field(a.group),
          a.policy === 'ask' ? a.now + (a.askTimeout ?? 0) : '', field(by.device), field(by.ip), same.length, ...same) as Promise<unknown[]>
        // An ended id copied to the index is no longer on its user's keys: asked at the same time.
        const indexed = this.#indexLookup([a.id], a.now)
        const [pointerReply, reply, endedBefore, ...otherEnded] = await Promise.all([pointer, admission, indexed, ...others])
        const ended = otherEnded.flat()

        if (pointerReply[0] === 'ended' || endedBefore.has(a.id)) {
          // An id recorded as ended must stay ended. (A login and an ending of
          // the very same new id within one round trip could slip between the
          // two reads: only an app that hands one cookie value out twice could
          // make them meet, and then within milliseconds.)
          // Ended again under the reason it was first ended with (the index's, where it is there).
          if (reply[0] === 1) await this.#endOn(a.user, [a.id], endedBefore.get(a.id)?.reason ?? 'concurrent_login_limit', a.now)
          return { admitted: false, reason: 'ended' }
        }
        const previousUser = pointerReply[1]
        if (typeof previousUser === 'string' && previousUser !== '') {
          // The app handed this cookie to another user: it is not theirs any more.
          await this.#client.scEnd(...this.#keyArgs(previousUser, a.now), '', '', '', a.id)
        }
        this.#users.set(a.id, a.user)
        if (reply[0] !== 1) {
          const reason = reply[1] === 'limit' ? 'limit' : 'ended'
          if (reason === 'limit') {
            this.#ended([{ id: a.id, reason: 'concurrent_login_limit', user: a.user }], a.now)
            this.#drain(a.user, a.now)
          }
          this.#cache.delete(a.id)
          return { admitted: false, reason }
        }
        const endedHere = parseRecords(reply.slice(2), a.user)
        if (endedHere.length > 0) this.#drain(a.user, a.now)
        ended.push(...endedHere)
        this.#ended(ended.map((r) => ({ ...r, by: compactBy({ ...a.meta, at: a.now }) })), a.now)
        if (reply[1] === 'pending') {
          this.#cache.delete(a.id)
          return { admitted: true, ended: ended.map(plain), pending: true }
        }
        // The session may be older than this login (an app that keeps the id, an idle session
        // admitted again): until a check tells its age, this answer gets `cacheTtl` only.
        this.#cache.set(a.id, { state: { state: 'live', user: a.user, slot: a.id }, key: a.id, at: a.now, touchedAt: a.now, expiresAt: a.now })
        return { admitted: true, ended: ended.map(plain) }
      })
    } catch (err) {
      // The script may have run although its answer was late.
      this.#unconfirmed++
      throw err
    }
  }

  async rotate (from: SessionId, to: SessionId, now: number): Promise<RotateResult> {
    const known = this.#knownEnded(from, now)
    if (known !== undefined) {
      await this.end([to], known, now).catch(() => {})
      return { rotated: false, ended: true }
    }
    const write = async (): Promise<RotateResult> => {
      const user = await this.#userOf(from)
      if (user === undefined) return await this.#rotatedFromIndexed(from, to, now)
      const key = await this.#sessionKey(from, user)
      const [pointerReply, reply, toEnded] = await Promise.all([
        this.#client.scSetPointer(pointerKey(this.#prefix, to), now, this.#t.maxAge, this.#ttl, user) as Promise<unknown[]>,
        this.#client.scRotate(...this.#keyArgs(user, now, aliasListKey(this.#prefix, user, key)), key, to, MAX_ALIASES_PER_SESSION) as Promise<unknown[]>,
        this.#indexLookup([to], now)
      ])
      this.#cache.delete(to)
      if (pointerReply[0] === 'ended') return { rotated: false, ended: true }
      if (toEnded.has(to)) {
        // The new cookie id is an ended one (in the index): it must not become a cookie of this session.
        if (reply[0] === 1) await this.#client.scEnd(...this.#keyArgs(user, now), '', '', '', to)
        return { rotated: false, ended: true }
      }
      const previousUser = pointerReply[1]
      if (typeof previousUser === 'string' && previousUser !== '') {
        // As in admit: the app handed this cookie id over from another user.
        await this.#client.scEnd(...this.#keyArgs(previousUser, now), '', '', '', to)
      }
      this.#users.set(to, user)
      if (reply[0] === 1) return { rotated: true, user }
      if (reply[1] === 'ended') {
        this.#drain(user, now)
        return { rotated: false, ended: true }
      }
      // Not tracked on the user's keys: ended meanwhile (and copied to the index), or over.
      return await this.#rotatedFromIndexed(typeof reply[2] === 'string' ? reply[2] : key, to, now)
    }
    try {
      return await this.#run(write)
    } catch (err) {
      // Follow the session locally now, and write the rotation when Redis is back.
      const cached = this.#cache.get(from)
      if (cached !== undefined) this.#cache.set(to, { ...cached, at: now })
      this.#later(async () => { await write() })
      throw err
    }
  }

  /** A rotation from a session no user's keys track: if the index holds it ended, the new cookie is ended too. */
  async #rotatedFromIndexed (from: SessionId, to: SessionId, now: number): Promise<RotateResult> {
    const ended = (await this.#indexLookup([from], now)).get(from)
    if (ended === undefined) return { rotated: false, ended: false }
    await this.end([to], ended.reason, now)
    return { rotated: false, ended: true }
  }

  async settle (key: SessionId, policy: DecidingPolicy | 'ask', limit: number, now: number): Promise<SettleResult> {
    return await this.#run(async () => {
      void this.#writeTouches()
      const user = await this.#userOf(key)
      if (user === undefined) return { state: 'unknown' }
      const reply = await this.#client.scSettle(...this.#keyArgs(user, now), key, policy, limit) as unknown[]
      // A session still waiting for its choice is as it was: its cached
      // answer stays. (Dropped and set again on every visit to the chooser,
      // one hot key in a cache of 100,000 costs more each time: V8 keeps a
      // deleted entry in its key's bucket chain until the table is rebuilt.)
      if (reply[0] !== 'pending') this.#cache.delete(key)
      if (reply[0] === 'live') {
        const by = compactBy({ device: unfield(reply[1]), ip: unfield(reply[2]), at: now })
        const ended = parseRecords(reply.slice(3), user)
        if (ended.length > 0) this.#drain(user, now)
        this.#ended(ended.map((r) => ({ ...r, by })), now)
        return { state: 'live', ended: ended.map(plain) }
      }
      if (reply[0] === 'ended' && reply[1] === 'now') {
        this.#ended([{ id: key, reason: 'concurrent_login_limit', user }], now)
        this.#drain(user, now)
      }
      if (reply[0] === 'unknown' && (await this.#indexLookup([key], now)).has(key)) return { state: 'ended' }
      return { state: reply[0] === 'pending' ? 'pending' : reply[0] === 'ended' ? 'ended' : 'unknown' }
    })
  }

  async end (ids: readonly SessionId[], reason: EndReason, now: number, endedBy?: EndedBy): Promise<SessionRecord[]> {
    const by = endedBy === undefined ? undefined : compactBy({ ...endedBy, at: now })
    // Known here at once, whatever Redis does: this gateway refuses them from now on.
    const provisional: Array<[SessionId, KnownEnding]> = []
    for (const id of ids) {
      const key = this.#cache.get(id)?.key ?? id
      if (this.#knownEnded(key, now) === undefined) {
        const known: KnownEnding = { reason, at: now, by }
        this.#endedLocal.set(key, known)
        provisional.push([key, known])
      }
    }
    const write = async (): Promise<SessionRecord[]> => {
      const ended: EndedRecord[] = []
      const unknown: SessionId[] = []
      // The ids this call ended, or recorded as ended first: this reason is theirs.
      const recorded = new Set<SessionId>()
      const users = await this.#usersOf(ids)
      for (const [id, user] of users) if (user === undefined) unknown.push(id)
      const endUnder = async (user: string, group: SessionId[]): Promise<void> => {
        ended.push(...await this.#endOn(user, group, reason, now, by, recorded))
      }
      await Promise.all([...this.#groupByUser(users)].map(async ([user, group]) => { await endUnder(user, group) }))
      // Ids of no known user (e.g. a session the app made for someone the gateway could not identify): recorded in the index.
      const noUser: IndexEntry[] = []
      await Promise.all(unknown.map(async (id) => {
        const reply = await this.#client.scEndPointer(pointerKey(this.#prefix, id), now, this.#t.maxAge) as unknown[]
        if (reply[0] === 'user') await endUnder(String(reply[1]), [id])
        else if (reply[0] === 'none') noUser.push({ id, reason, announce: announcement(id, reason, by, now) })
      }))
      if (noUser.length > 0) for (const id of await this.#indexAdd(noUser, now)) recorded.add(id)
      for (const r of ended) recorded.add(r.id)
      this.#ended([...ended.map((r) => ({ id: r.id, reason: r.reason, by, user: r.user })), ...noUser.filter((r) => recorded.has(r.id)).map((r) => ({ id: r.id, reason: r.reason, by }))], now)
      // An id that had ended before this call (through another gateway, whose
      // announcement has not come yet) keeps its first reason: this call's
      // guess is dropped, and Redis (or the announcement) tells the real one.
      for (const [key, known] of provisional) {
        if (!recorded.has(key) && this.#endedLocal.peek(key) === known) this.#endedLocal.delete(key)
      }
      return ended.map(plain)
    }
    try {
      return await this.#run(write)
    } catch (err) {
      this.#later(async () => { await write() })
      throw err
    }
  }

  async sessionsOf (user: string, now: number): Promise<SessionRecord[]> {
    return await this.#run(async () => {
      void this.#writeTouches()
      const records = parseRecords(await this.#client.scSessions(...this.#keyArgs(user, now)), user).map(plain)
      return records.sort((a, b) => a.createdAt - b.createdAt)
    })
  }

  async * users (now: number): AsyncIterable<string> {
    // A user's keys do not hold the name; any of their sessions' pointers does.
    const nodes = 'nodes' in this.#client ? this.#client.nodes('master') : [this.#client]
    for (const node of nodes) {
      for (const liveKey of await scanAll(node, `${this.#prefix}{u:*}:live`)) {
        const user = await this.#ownerOf(node, liveKey)
        if (user !== undefined && (await this.sessionsOf(user, now)).length > 0) yield user
      }
    }
  }

  /** Whose live hash this is: the pointer of any of its sessions names the user (a pointer may have expired: the next is asked). */
  async #ownerOf (node: RedisClient, liveKey: string): Promise<string | undefined> {
    let cursor = '0'
    do {
      const [next, fields] = await this.#run(async () => await (node as Redis).hscan(liveKey, cursor, 'COUNT', 100))
      cursor = next
      // HSCAN answers field, value, field, value…
      for (let i = 0; i < fields.length; i += 2) {
        const pointer = decodePointer(await this.#run(async () => await this.#client.get(pointerKey(this.#prefix, fields[i] as string))))
        if (pointer?.kind === 'user') return pointer.user
      }
    } while (cursor !== '0')
    return undefined
  }

  async ping (): Promise<void> {
    await this.#run(async () => { await this.#client.ping() })
  }

  /** Counts by scanning every user's keys: for tests and operators, not for the request path. */
  async stats (now: number): Promise<StoreStats> {
    const totals = { live: 0, ended: 0, aliases: 0 }
    const nodes = 'nodes' in this.#client ? this.#client.nodes('master') : [this.#client]
    for (const node of nodes) {
      for (const liveKey of await scanAll(node, `${this.#prefix}{u:*}:live`)) {
        const base = liveKey.slice(0, -':live'.length)
        const keys = [`${base}:live`, `${base}:ended`, `${base}:endedz`, `${base}:alias`, `${base}:aliasz`, `${base}:meta`]
        const [live, ended, aliases] = await this.#client.scStats(...keys, now, this.#t.maxAge, this.#t.idleTimeout, this.#ttl) as number[]
        totals.live += live ?? 0
        totals.ended += ended ?? 0
        totals.aliases += aliases ?? 0
      }
      for (const key of await scanAll(node, `${this.#prefix}{s:*}`)) {
        const pointer = decodePointer(await this.#client.get(key))
        if (pointer?.kind === 'ended' && now - pointer.endedAt < this.#t.maxAge) totals.ended++
      }
      // The index's buckets still within maxAge of now (older ones are over, whether or not Redis has dropped them yet).
      const live = new Set(this.#index.bucketKeys('*', now).map((k) => k.slice(k.lastIndexOf(':') + 1)))
      for (const key of await scanAll(node, `${this.#prefix}{e:*}:*`)) {
        if (live.has(key.slice(key.lastIndexOf(':') + 1))) totals.ended += await node.hlen(key)
      }
    }
    return totals
  }

  async close (): Promise<void> {
    clearInterval(this.#beatTimer)
    await this.#writeTouches()
    this.#closed = true
    this.#cache.clear()
    // Logouts and rotations kept for Redis's return die with the process:
    // said once, so an operator knows those sessions count until they go idle
    // and those cookies pass as unknown.
    if (this.#pending.length > 0) {
      this.#events.warn('stopping with logouts and rotations Redis never got: those sessions count until they go idle (sessions.idleTimeout), those new cookies pass untracked', { writesLost: this.#pending.length })
    }
    await Promise.all([quit(this.#client), quit(this.#sub)])
  }

  /** Redis is healthy as far as this gateway can tell. */
  get healthy (): boolean {
    return this.#healthy
  }

  // --- internals ---

  #keyArgs (user: string, now: number, ...extraKeys: string[]): ScriptArg[] {
    const k = userKeys(this.#prefix, user)
    return [k.live, k.ended, k.endedz, k.alias, k.aliasz, k.meta, ...extraKeys, now, this.#t.maxAge, this.#t.idleTimeout, this.#ttl]
  }

  #knownEndedEntry (key: SessionId, now: number): KnownEnding | undefined {
    const known = this.#endedLocal.get(key)
    return known !== undefined && now - known.at < this.#t.maxAge ? known : undefined
  }

  #knownEnded (key: SessionId, now: number): EndReason | undefined {
    return this.#knownEndedEntry(key, now)?.reason
  }

  /** The user a session id belongs to, from this gateway's memory or the id's pointer. */
  async #userOf (id: SessionId): Promise<string | undefined> {
    const cached = this.#cache.get(id)?.state
    if (cached !== undefined && (cached.state === 'live' || cached.state === 'idle')) return cached.user
    const user = this.#users.get(id)
    if (user !== undefined) return user
    const pointer = decodePointer(await this.#client.get(pointerKey(this.#prefix, id)))
    return pointer?.kind === 'user' ? pointer.user : undefined
  }

  async #usersOf (ids: readonly SessionId[]): Promise<Array<[SessionId, string | undefined]>> {
    return await Promise.all(ids.map(async (id): Promise<[SessionId, string | undefined]> => [id, await this.#userOf(id)]))
  }

  #groupByUser (pairs: Array<[SessionId, string | undefined]>): Map<string, SessionId[]> {
    const groups = new Map<string, SessionId[]>()
    for (const [id, user] of pairs) {
      if (user === undefined) continue
      const g = groups.get(user)
      if (g === undefined) groups.set(user, [id])
      else g.push(id)
    }
    return groups
  }

  /** The key of the session a cookie id belongs to (the gateway passes keys; an older cookie id is followed once). */
  async #sessionKey (id: SessionId, user: string): Promise<SessionId> {
    const cached = this.#cache.get(id)
    if (cached !== undefined) return cached.key
    const alias = await this.#client.hget(userKeys(this.#prefix, user).alias, id)
    return alias === null ? id : alias.slice(0, alias.indexOf(','))
  }

  /** Marks sessions the scripts just ended as ended here at once (the scripts announced them to every gateway). */
  #ended (sessions: Array<{ id: SessionId, reason: EndReason, by?: EndedBy, user?: string }>, now: number): void {
    for (const { id, reason, by, user } of sessions) {
      if (this.#knownEnded(id, now) !== undefined) continue
      this.#endedLocal.set(id, compactKnown({ reason, at: now, by, user }))
      this.#cache.delete(id)
    }
  }

  /**
   * Which of these ids the index holds as ended (ended-index.ts): their
   * reasons, and when their time bucket began (no later than their ending).
   */
  async #indexLookup (ids: readonly SessionId[], now: number): Promise<Map<SessionId, { reason: EndReason, at: number }>> {
    const found = new Map<SessionId, { reason: EndReason, at: number }>()
    await Promise.all([...groupByShard(ids)].map(async ([shard, group]) => {
      const keys = this.#index.bucketKeys(shard, now)
      const reply = await this.#client.scEndedLookup(keys.length, ...keys, ...group.map((g) => g.field)) as unknown[]
      group.forEach((g, i) => {
        const reason = reasonOf(reply[2 * i])
        if (reason !== undefined) found.set(g.id, { reason, at: this.#index.bucketStart(Number(reply[2 * i + 1]), now) })
      })
    }))
    return found
  }

  /**
   * Ends `ids` on `user`'s keys (END) and drains them to the index. Ids the
   * user's keys hold neither live nor ended (copied to the index already, or
   * never live) are recorded in the index, which keeps an earlier reason.
   * Returns the live sessions it ended.
   */
  async #endOn (user: string, ids: readonly SessionId[], reason: EndReason, now: number, by?: EndedBy, indexed?: Set<SessionId>): Promise<EndedRecord[]> {
    const reply = await this.#client.scEnd(...this.#keyArgs(user, now), reason, field(by?.device), field(by?.ip), ...ids) as unknown[]
    const records = parseRecords(reply[0], user)
    const absent = (reply[1] as unknown[] | undefined ?? []).map(String)
    if (absent.length > 0) {
      const added = await this.#indexAdd(absent.map((id) => ({ id, reason, announce: announcement(id, reason, by, now) })), now)
      if (indexed !== undefined) for (const id of added) indexed.add(id)
    }
    this.#drain(user, now)
    return records
  }

  /**
   * Records endings in the index (an ending already there keeps its first
   * reason); counts them for store.maxEnded. Returns the ids it recorded (not
   * those already there).
   */
  async #indexAdd (entries: readonly IndexEntry[], now: number): Promise<SessionId[]> {
    const byId = new Map(entries.map((e) => [e.id, e]))
    const recorded: SessionId[] = []
    await Promise.all([...groupByShard([...byId.keys()])].map(async ([shard, group]) => {
      const keys = this.#index.bucketKeys(shard, now)
      const args: ScriptArg[] = [this.#index.keepFor(now) + this.#ttlMargin, endedChannel(this.#prefix)]
      for (const g of group) {
        const e = byId.get(g.id) as IndexEntry
        args.push(g.field, reasonNumber(e.reason), e.announce)
      }
      const added = await this.#client.scEndedAdd(keys.length, ...keys, ...args) as unknown[]
      for (const position of added) {
        const g = group[Number(position) - 1]
        if (g !== undefined) recorded.push(g.id)
      }
    }))
    const added = recorded.length
    if (added === 0) return recorded
    this.#endedCount += added
    const countKey = this.#index.currentCountKey(now)
    await this.#client.incrby(countKey, added)
    await this.#client.pexpire(countKey, this.#index.keepFor(now) + this.#ttlMargin)
    return recorded
  }

  /**
   * Copies the user's ended records to the index, drops their pointers, and
   * takes them off the user's keys: in the background, after any script that
   * ended sessions. Until then the user's keys refuse them; if this fails
   * (Redis away, the gateway stopped), the next drain of that user does it,
   * and records older than maxAge are pruned there as before.
   */
  #drain (user: string, now: number): void {
    if (this.#draining.has(user)) {
      this.#draining.set(user, true)
      return
    }
    this.#draining.set(user, false)
    const round = async (): Promise<void> => {
      for (;;) {
        this.#draining.set(user, false)
        const reply = await this.#client.scTombstones(...this.#keyArgs(user, now), DRAIN_BATCH) as unknown[]
        const copy: IndexEntry[] = []
        const confirm: ScriptArg[] = []
        let latest = 0
        for (let i = 0; i + 2 < reply.length; i += 3) {
          const key = String(reply[i])
          const at = Number(reply[i + 1])
          confirm.push(key, String(reply[i + 1]))
          if (now - at >= this.#t.maxAge) continue
          copy.push({ id: key, reason: asReason(reply[i + 2]), announce: '' })
          latest = Math.max(latest, at)
        }
        if (copy.length > 0) {
          // Into the bucket of the latest of them: kept at least maxAge from each one's ending.
          await this.#indexAdd(copy, latest)
          await Promise.all(copy.map(async (c) => await this.#client.scDropPointer(pointerKey(this.#prefix, c.id), user)))
        }
        if (confirm.length > 0) await this.#client.scConfirm(...this.#keyArgs(user, now), ...confirm)
        if (reply.length < DRAIN_BATCH * 3 && this.#draining.get(user) !== true) return
      }
    }
    // Not through #run: a drain of several steps is not one command to time, and its failure is no outage to report.
    round().catch(() => { /* left on the user's keys, which still refuse them; the next drain copies them */ })
      .finally(() => { this.#draining.delete(user) })
  }

  /**
   * store.maxEnded: a new session is refused, before anything is written,
   * once the fleet's index holds that many ended sessions (read at most every
   * few seconds, in the background: the bound is approximate by the endings
   * of the last seconds). See memory-store.ts #ensureRoom for why.
   */
  #ensureRoom (now: number): void {
    if (now - this.#endedCountAt >= COUNT_TTL_MS) {
      this.#endedCountAt = now
      const keys = this.#index.countKeys(now)
      this.#run(async () => await this.#client.mget(...keys))
        .then((counts) => { this.#endedCount = counts.reduce((sum: number, c) => sum + (Number(c) || 0), 0) }, () => {})
    }
    const max = this.#store.maxEnded
    if (this.#endedCount < max * ENDED_WARN_SHARE) return
    const full = this.#endedCount >= max
    if (now - this.#lastEndedWarning >= WARN_EVERY_MS) {
      this.#lastEndedWarning = now
      const details = { ended: this.#endedCount, maxEnded: max }
      if (full) (this.#events.error ?? this.#events.warn)('Redis holds store.maxEnded ended sessions: new sign-ins are refused until the oldest endings are over (sessions.maxAge); raise store.maxEnded, or find the account that signs in again and again', details)
      else this.#events.warn(`Redis holds over ${ENDED_WARN_SHARE * 100}% of store.maxEnded ended sessions; at the bound new sign-ins are refused`, details)
    }
    if (full) throw new errors.STORE_FULL()
  }

  #heard (message: string): void {
    try {
      const m = JSON.parse(message) as { ended?: unknown, at?: unknown, forget?: unknown, s?: unknown }
      if (Array.isArray(m.forget)) {
        // A cookie the app handed to another user: what was cached of it is someone else's.
        for (const id of m.forget as unknown[]) {
          if (typeof id === 'string') { this.#cache.delete(id); this.#users.delete(id) }
        }
        return
      }
      if (!Array.isArray(m.ended)) return
      // Scripts mark what they announce; an unmarked announcement comes from an older gateway.
      if (m.s !== 1) this.#olderGatewayUntil = this.#clock() + this.#store.cacheMaxTtl
      const at = typeof m.at === 'number' ? m.at : this.#clock()
      const ids: SessionId[] = []
      for (const item of m.ended as unknown[]) {
        if (Array.isArray(item) && typeof item[0] === 'string') {
          const by = endedByFrom(item[2], at)
          this.#endedLocal.set(item[0], { reason: asReason(item[1]), at, by })
          ids.push(item[0])
        }
      }
      if (ids.length > 0) this.#events.endedElsewhere?.(ids)
    } catch {
      // Not ours, or garbled: the cache's short life covers it.
    }
  }

  /** Publishes a heartbeat, to be heard back by #heardBeat. */
  #beat (): void {
    if (!this.#listening || !this.#healthy || this.#closed) return
    const n = ++this.#beats
    this.#beatsSent.set(n, this.#clock())
    // Heartbeats lost (Redis slow or away) are forgotten, oldest first.
    if (this.#beatsSent.size > 8) this.#beatsSent.delete(this.#beatsSent.keys().next().value as number)
    this.#client.publish(beatChannel(this.#prefix, this.#tag), String(n))
      .catch(() => { /* no proof this second: the cache falls back on cacheTtl */ })
  }

  #heardBeat (n: number): void {
    const sentAt = this.#beatsSent.get(n)
    if (sentAt === undefined) return
    for (const k of this.#beatsSent.keys()) if (k <= n) this.#beatsSent.delete(k)
    this.#provenAt = Math.max(this.#provenAt, sentAt)
    // Redis answered the heartbeat through this subscription, so it was up
    // by now: whatever Redis answers from now on, a later ending of it will
    // be announced to this gateway.
    this.#provenSince ??= this.#clock()
  }

  /** The subscription dropped: announcements may be missed until a heartbeat is heard through the next one. */
  #unproven (): void {
    this.#beatsSent.clear()
    this.#provenSince = undefined
    this.#provenAt = Number.NEGATIVE_INFINITY
  }

  /** Notes a use of a session, written with others in one call at most every `touchInterval` per session. */
  #touchLater (entry: CacheEntry, now: number): void {
    if (now - entry.touchedAt < this.#store.touchInterval || entry.state.state !== 'live') return
    entry.touchedAt = now
    this.#touches.set(entry.key, { user: entry.state.user, at: now })
    if (this.#touchTimer === undefined) {
      this.#touchTimer = setTimeout(() => { void this.#writeTouches() }, TOUCH_BATCH_MS)
      this.#touchTimer.unref()
    }
  }

  /**
   * Sends the uses waiting to be written. Called before any script that
   * reads or decides on sessions: a connection's commands run in the order
   * sent, so those scripts see the uses without waiting for them.
   */
  #writeTouches (): Promise<void> {
    clearTimeout(this.#touchTimer)
    this.#touchTimer = undefined
    if (this.#touches.size === 0) return Promise.resolve()
    const batch = [...this.#touches]
    this.#touches.clear()
    // On Cluster a script reaches one user's keys only: one session per call.
    const perCall = this.#store.cluster === undefined ? TOUCH_BATCH_MAX : 1
    const sends: Array<Promise<unknown>> = []
    for (let i = 0; i < batch.length; i += perCall) {
      const keys: string[] = []
      const args: ScriptArg[] = []
      for (const [key, { user, at }] of batch.slice(i, i + perCall)) {
        const k = userKeys(this.#prefix, user)
        keys.push(k.live, k.ended, k.endedz, k.alias, k.aliasz, k.meta)
        args.push(key, at)
      }
      sends.push(this.#run(async () => await this.#client.scTouch(keys.length, ...keys, 0, this.#t.maxAge, this.#t.idleTimeout, this.#ttl, ...args)))
    }
    return Promise.all(sends).then(() => {}, () => { /* logged once per outage by #markDown; a use not written only makes a session look older */ })
  }

  /** Keeps a write that failed, to be made when Redis is back (oldest dropped beyond a bound). */
  #later (write: () => Promise<void>): void {
    this.#pending.push(write)
    if (this.#pending.length > MAX_PENDING) {
      this.#pending.shift()
      this.#events.warn('too many writes waiting for Redis; dropped the oldest', { waiting: MAX_PENDING })
    }
  }

  async #flush (): Promise<void> {
    if (this.#flushing) return
    this.#flushing = true
    try {
      while (this.#pending.length > 0 && this.#healthy && !this.#closed) {
        const write = this.#pending[0] as () => Promise<void>
        await this.#run(write)
        this.#pending.shift()
      }
    } catch {
      // Still down: the rest waits for the next recovery.
    } finally {
      this.#flushing = false
    }
  }

  /** Runs one store operation within `commandTimeout`, keeping track of Redis's health. */
  async #run<T> (op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new errors.STORE_UNAVAILABLE({ cause: new Error('store closed') })
    const p = op()
    p.catch(() => { /* the race below reports it */ })
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => { reject(new Error(`no answer from Redis within ${this.#store.commandTimeout} ms`)) }, this.#store.commandTimeout)
    })
    try {
      const result = await Promise.race([p, deadline])
      this.#markUp()
      return result
    } catch (err) {
      this.#markDown(err as Error)
      throw new errors.STORE_UNAVAILABLE({ cause: err })
    } finally {
      clearTimeout(timer)
    }
  }

  #markDown (err: Error): void {
    if (!this.#healthy || this.#closed) return
    this.#healthy = false
    this.#downSince = this.#clock()
    const mode = this.#store.onError === 'fail-open'
      ? 'failing open: requests are proxied, logins admitted unrecorded, ended sessions this gateway knows of still refused'
      : 'failing closed: logins and sessions this gateway cannot vouch for get 503'
    const log = this.#events.error ?? this.#events.warn
    log(`Redis is unreachable (${err.message}); ${mode}, until it answers again`, { onError: this.#store.onError })
  }

  #markUp (): void {
    if (this.#healthy || this.#closed) return
    this.#healthy = true
    // Sessions may have ended elsewhere meanwhile, unannounced to this gateway.
    this.#cache.clear()
    const log = this.#events.info ?? this.#events.warn
    log('Redis is reachable again', { downForMs: this.#clock() - this.#downSince, loginsNotConfirmed: this.#unconfirmed, writesToCatchUp: this.#pending.length })
    this.#unconfirmed = 0
    void this.#flush()
  }

  /** Keys expire, so an eviction policy that picks keys with an expiry could drop ended sessions. */
  #checkEvictionPolicy (): void {
    this.#evictionChecked = true
    const nodes = 'nodes' in this.#client ? this.#client.nodes('master') : [this.#client]
    for (const node of nodes) {
      node.config('GET', 'maxmemory-policy').then((reply: unknown) => {
        const policy = Array.isArray(reply) ? String(reply[1]) : ''
        if (policy !== '' && policy !== 'noeviction') {
          this.#events.warn(`Redis maxmemory-policy is ${policy}: under memory pressure Redis may evict ended sessions, letting them back in; set it to noeviction`, { policy })
        }
      }, () => { /* CONFIG may be disabled (managed Redis): nothing to check */ })
    }
  }
}

/** Ids grouped by their index shard, each with its field there. */
function groupByShard (ids: readonly SessionId[]): Map<string, Array<{ id: SessionId, field: string }>> {
  const groups = new Map<string, Array<{ id: SessionId, field: string }>>()
  for (const id of new Set(ids)) {
    const { shard, field } = indexSlot(id)
    const g = groups.get(shard)
    if (g === undefined) groups.set(shard, [{ id, field }])
    else g.push({ id, field })
  }
  return groups
}

/** How an ending of an id of no known user is announced to the fleet (the scripts' own format, scripts.ts endSession). */
function announcement (id: SessionId, reason: EndReason, by: EndedBy | undefined, now: number): string {
  return JSON.stringify({ ended: [by === undefined ? [id, reason] : [id, reason, by]], at: now, s: 1 })
}

function asReason (r: unknown): EndReason {
  return (END_REASONS as readonly unknown[]).includes(r) ? r as EndReason : 'concurrent_login_limit'
}

/**
 * A value stored inside a comma-separated record (a group, a device, an
 * address): commas and the escape character are escaped.
 */
function field (value: string | undefined): string {
  return value === undefined ? '' : value.replaceAll('%', '%25').replaceAll(',', '%2C')
}
function unfield (stored: unknown): string | undefined {
  return typeof stored === 'string' && stored !== '' ? stored.replaceAll('%2C', ',').replaceAll('%25', '%') : undefined
}

interface Checked {
  state: SessionState
  /** When the session was created (live answers; otherwise when asked). */
  createdAt: number
  /** Unknown answers: the key the id resolved to (the index may hold it ended). */
  key?: SessionId
  /** Ended answers: when the ending was (from the index: the start of its time bucket, no later than the ending). */
  endedAt?: number
}

function parseCheck (reply: unknown, user: string, now: number): Checked {
  const r = reply as Array<string | undefined>
  if (r[0] === 'live') {
    const createdAt = Number(r[2])
    return { state: { state: 'live', user, slot: r[1] as string }, createdAt: Number.isFinite(createdAt) ? createdAt : now }
  }
  if (r[0] === 'unknown' && typeof r[1] === 'string') return { state: { state: 'unknown' }, createdAt: now, key: r[1] }
  // An ending still on the user's keys says when it was: this gateway must not remember it longer than maxAge from then.
  if (r[0] === 'ended' && Number.isFinite(Number(r[4]))) return { state: parseOtherCheck(r, user), createdAt: now, endedAt: Number(r[4]) }
  return { state: parseOtherCheck(r, user), createdAt: now }
}

function parseOtherCheck (r: Array<string | undefined>, user: string): SessionState {
  const [state, value] = r
  if (state === 'idle') {
    const g = unfield(r[2])
    return g === undefined ? { state, user, slot: value as string } : { state, user, slot: value as string, group: g }
  }
  if (state === 'pending') {
    const g = unfield(r[3])
    const s: SessionState = { state, user, slot: value as string, until: Number(r[2]) }
    if (g !== undefined) s.group = g
    return s
  }
  if (state === 'ended') {
    const by: EndedBy = { at: Number(r[4]) }
    const device = unfield(r[2])
    const ip = unfield(r[3])
    if (device !== undefined) by.device = device
    if (ip !== undefined) by.ip = ip
    const ended: SessionState = { state, reason: asReason(value), user }
    if (device !== undefined || ip !== undefined) ended.by = by
    if (typeof r[5] === 'string' && r[5] !== '') ended.key = r[5]
    return ended
  }
  return { state: 'unknown' }
}

/** An ending this gateway knows of: when, by what device, and whose (when it ended it or read it on the user's keys). */
interface KnownEnding {
  reason: EndReason
  at: number
  by?: EndedBy
  user?: string
  /** The session's key, where this entry is under one of its later cookie ids. */
  key?: SessionId
}

function compactKnown (k: KnownEnding): KnownEnding {
  const out: KnownEnding = { reason: k.reason, at: k.at }
  if (k.by !== undefined) out.by = k.by
  if (k.user !== undefined) out.user = k.user
  if (k.key !== undefined) out.key = k.key
  return out
}

interface EndedRecord extends SessionRecord {
  reason: EndReason
}

/** The scripts answer sessions as flat 7-tuples: key, createdAt, lastUsedAt, reason, device, ip, pendingUntil. */
function parseRecords (reply: unknown, user: string): EndedRecord[] {
  const flat = reply as Array<string | number>
  const out: EndedRecord[] = []
  for (let i = 0; i + 6 < flat.length; i += 7) {
    const r: EndedRecord = { id: String(flat[i]), user, createdAt: Number(flat[i + 1]), lastUsedAt: Number(flat[i + 2]), reason: asReason(flat[i + 3]) }
    const meta: SessionMeta = { device: unfield(flat[i + 4]), ip: unfield(flat[i + 5]) }
    if (meta.device !== undefined) r.device = meta.device
    if (meta.ip !== undefined) r.ip = meta.ip
    if (flat[i + 6] !== '' && flat[i + 6] !== undefined) r.pendingUntil = Number(flat[i + 6])
    out.push(r)
  }
  return out
}

/** Who ended a session, if anything is known of it (as the memory store keeps it: no empty fields). */
function compactBy (by: EndedBy): EndedBy | undefined {
  if (by.device === undefined && by.ip === undefined) return undefined
  const out: EndedBy = { at: by.at }
  if (by.device !== undefined) out.device = by.device
  if (by.ip !== undefined) out.ip = by.ip
  return out
}

/** An announcement's `by`, taken field by field: only strings reach a page. */
function endedByFrom (value: unknown, at: number): EndedBy | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const v = value as Record<string, unknown>
  const by: EndedBy = { at: typeof v.at === 'number' ? v.at : at }
  if (typeof v.device === 'string') by.device = v.device.slice(0, 200)
  if (typeof v.ip === 'string') by.ip = v.ip.slice(0, 64)
  return by
}

function plain (ended: EndedRecord): SessionRecord {
  const { reason, ...record } = ended
  void reason
  return record
}

async function scanAll (node: RedisClient, match: string): Promise<string[]> {
  const found: string[] = []
  let cursor = '0'
  do {
    // Cluster nodes are plain clients; `node` here is always one server.
    const [next, keys] = await (node as Redis).scan(cursor, 'MATCH', match, 'COUNT', 1000)
    cursor = next
    found.push(...keys)
  } while (cursor !== '0')
  return found
}

async function settleWithin<T> (p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('Redis did not answer in time')) }, ms) })])
  } finally {
    clearTimeout(timer)
  }
}

async function quit (client: RedisClient): Promise<void> {
  try {
    await settleWithin(client.quit(), 1_000)
  } catch {
    client.disconnect()
  }
}
