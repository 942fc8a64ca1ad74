import { LRUCache } from 'lru-cache'
import { CounterEntry, countersFor, judge, keep, keepFailure, refresh } from './counter.js'
import type { BlockInfo, BlockList, ChargeRequest, ChargeResult, CounterKind, GuardEvents, GuardRules, GuardStore, Outcome, SettleResult, Ticket } from './guard.js'
import { counterKey, parseCounterKey } from './keys.js'

export interface MemoryGuardOptions {
  /** Most counter keys kept (`guard.maxKeys`); blocked keys are kept apart, up to as many again. */
  maxKeys: number
  events?: GuardEvents
}

/**
 * One attempt in flight, from its charge to its settle (or its deadline):
 * its counters' keys, in its counters' order (made once, at the charge: the
 * settle reuses them), and which of them a lift voided since (bit i:
 * `keys[i]`), so its settle counts nothing there. `logins` shares the user's
 * key (and entry) but not the user's charges: its charges are counted apart.
 */
interface InFlight {
  deadline: number
  counters: readonly CounterKind[]
  keys: string[]
  voided: number
}

const WARN_EVERY_MS = 60_000

/**
 * The guard's counters in this gateway's memory. Every method runs to
 * completion without awaiting anything, so each step is atomic with respect
 * to every other request of this process: 500 attempts fired at once are
 * decided one after the other, and exactly `threshold` of them pass.
 *
 * Bounded under abuse (nothing that grows with traffic is unbounded):
 * - Counters sit in an LRU of `maxKeys` entries (lru-cache with `max`:
 *   preallocated, no timers — NOTES-proxy.md, lru-cache). Expiry is read
 *   from the entry's own times (the clock is passed in), never from timers.
 * - Blocked keys (and keys with blocks in their history, which decide the
 *   next block's length) are moved to a second LRU of `maxKeys`, so a flood
 *   of new counters can never push a block out. Among blocks, the one
 *   dropped first at the bound is the one nobody has tried for longest: an
 *   attacker who keeps trying keeps his own block alive by trying.
 * - What an attacker gains when old counters are dropped: a counter pushed
 *   out forgets its failures (at most threshold − 1 of them) and any charges
 *   in flight. To push one out he must first make `maxKeys` newer keys, each
 *   a login attempt that is itself counted — from one network he is blocked
 *   after `guard.network.failures` of them — and the keys of a user he keeps
 *   attacking stay the most recently used. Dropping the least recently used
 *   counter is the least bad choice: refusing new keys at the bound would
 *   let him refuse every login of everyone, and dropping blocks would lift
 *   them. The first drop is logged, then at most once a minute.
 * - Attempts in flight are one record each, from charge to settle, dropped
 *   at `inFlightTimeout` (oldest first, checked on every step): their number
 *   is bounded by the requests the proxy has open. Their charges are counted
 *   apart, per key, only while in flight (`#charges`): a counter enters the
 *   LRU only when it has something to keep (a failure, a login, a block), so
 *   a successful login of a new user adds one entry (its logins this hour)
 *   and touches no other.
 */
export class MemoryGuardStore implements GuardStore {
  readonly kind = 'memory'
  readonly #active: LRUCache<string, CounterEntry>
  readonly #blocked: LRUCache<string, CounterEntry>
  /** In charge order, hence (with one `inFlightTimeout`) in deadline order. */
  readonly #inFlight = new Map<string, InFlight>()
  /** Charges in flight per key; a key leaves when its last charge is settled or dropped. */
  readonly #charges = new Map<string, number>()
  /** The same for the `logins` counters (their key is the user's). */
  readonly #loginCharges = new Map<string, number>()
  readonly #events: GuardEvents | undefined
  #now = 0
  #dropped = 0
  #lastWarning = Number.NEGATIVE_INFINITY

  constructor (opts: MemoryGuardOptions) {
    this.#events = opts.events
    const dropped = (what: string) => (_entry: CounterEntry, _key: string, reason: LRUCache.DisposeReason) => {
      if (reason === 'evict') this.#droppedOne(what, opts.maxKeys)
    }
    this.#active = new LRUCache<string, CounterEntry>({ max: opts.maxKeys, dispose: dropped('counters') })
    this.#blocked = new LRUCache<string, CounterEntry>({ max: opts.maxKeys, dispose: dropped('blocked keys') })
  }

  async charge (req: ChargeRequest): Promise<ChargeResult> {
    return this.chargeNow(req)
  }

  /** `charge`, without a promise (the memory store never waits). */
  chargeNow (req: ChargeRequest): ChargeResult {
    const now = req.now
    this.#expire(now)
    const known = this.#inFlight.get(req.id)
    if (known !== undefined) return { allowed: true, ticket: { id: req.id, user: req.user, network: req.network, counters: known.counters } }

    const counters = countersFor(req.rules, req.device)
    const keys = new Array<string>(counters.length)
    let retry = 0
    let blocked = false
    let refusedBy: CounterKind[] | undefined
    let lastKey = ''
    let holder: CounterEntry | undefined
    for (let i = 0; i < counters.length; i++) {
      const [kind, limit] = counters[i] as readonly [CounterKind, number, number]
      const key = counterKey(kind, req.user, req.network)
      // The user's and the logins counters share a key: one lookup.
      if (key !== lastKey) {
        holder = this.#find(key)
        lastKey = key
      }
      const entry = kind === 'logins' ? holder?.logins : holder
      if (entry !== undefined) refresh(entry, now)
      keys[i] = key
      const wait = judge(entry, limit, this.#chargesOf(kind).get(key) ?? 0, now)
      if (wait > 0) {
        (refusedBy ??= []).push(kind)
        retry = Math.max(retry, wait)
        if (entry !== undefined && entry.blockedUntil > now) blocked = true
      }
    }
    // A refused attempt leaves nothing behind: not even a key.
    if (refusedBy !== undefined) return { allowed: false, retryAfterMs: retry, refusedBy, blocked }

    const kinds = kindsOf(counters)
    for (let i = 0; i < keys.length; i++) {
      const charges = this.#chargesOf(kinds[i] as CounterKind)
      const key = keys[i] as string
      charges.set(key, (charges.get(key) ?? 0) + 1)
    }
    this.#inFlight.set(req.id, { deadline: now + req.rules.inFlightTimeout, counters: kinds, keys, voided: 0 })
    return { allowed: true, ticket: { id: req.id, user: req.user, network: req.network, counters: kinds } }
  }

  async settle (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): Promise<SettleResult> {
    return this.settleNow(ticket, outcome, now, rules)
  }

  /** `settle`, without a promise. */
  settleNow (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): SettleResult {
    this.#expire(now)
    const flight = this.#inFlight.get(ticket.id)
    if (flight === undefined) return { settled: false, blocks: [] }
    this.#inFlight.delete(ticket.id)
    this.#release(flight)
    const blocks: BlockInfo[] = []
    for (let i = 0; i < flight.counters.length; i++) {
      // A key lifted by the operator since the charge: its charge settles into nothing (the lift is not undone).
      if ((flight.voided & (1 << i)) !== 0) continue
      const kind = flight.counters[i] as CounterKind
      const key = flight.keys[i] as string
      if (kind === 'logins') {
        // Only a success is a login; anything else is refunded (its charge, released above, was all it held).
        if (outcome !== 'success' || rules.logins === undefined) continue
        const holder = this.#findOrAdd(key)
        const logins = holder.logins ??= new CounterEntry()
        refresh(logins, now)
        keep(logins, rules.logins.window, now)
        continue
      }
      if (outcome === 'success' && kind === 'userNetwork') {
        // This user signed in from here: their typos here are forgiven
        // (count only failures, reset on success: express-rate-limit#71,
        // rack-attack#675). Not the network's count (an attacker with one
        // valid account of his own would reset it between guesses), nor the
        // user's (the attacker's failures elsewhere stay counted).
        const entry = this.#find(key)
        if (entry === undefined) continue
        entry.kept = 0
        entry.windowEnd = 0
        // Left holding nothing, it is dropped: one per user and network, the LRU would fill with them.
        if (idle(entry, now) && this.#active.peek(key) === entry) this.#active.delete(key)
        continue
      }
      const rule = rules[kind]
      if (outcome !== 'failure' || rule === undefined) continue
      const entry = this.#findOrAdd(key)
      refresh(entry, now)
      if (keepFailure(entry, rule.failures, rule.window, rules.block, now)) {
        // Blocks live apart, where no flood of new counters can push them out.
        this.#active.delete(key)
        this.#blocked.set(key, entry)
        blocks.push(info(key, entry) as BlockInfo)
      }
    }
    return { settled: true, blocks }
  }

  async blocks (now: number, limit: number): Promise<BlockList> {
    const all: BlockInfo[] = []
    for (const [key, entry] of this.#blocked.entries()) {
      if (entry.blockedUntil > now) {
        const b = info(key, entry)
        if (b !== undefined) all.push(b)
      }
    }
    all.sort((a, b) => a.until - b.until)
    return { blocks: all.slice(0, limit), total: all.length }
  }

  async liftUser (user: string, now: number): Promise<BlockInfo[]> {
    // Its user counter (and logins, in the same entry) starts afresh whether blocked or not: the operator vouched for the account.
    const userKey = counterKey('user', user, '')
    this.#active.delete(userKey)
    const lifted = this.#lift(now, (b) => b.user === user)
    this.#void(new Set([userKey, ...lifted.keys]))
    return lifted.blocks
  }

  async liftNetworks (networks: readonly string[], now: number): Promise<BlockInfo[]> {
    const wanted = new Set(networks)
    const lifted = this.#lift(now, (b) => b.network !== undefined && wanted.has(b.network))
    this.#void(new Set(lifted.keys))
    return lifted.blocks
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#active.clear()
    this.#blocked.clear()
    this.#inFlight.clear()
    this.#charges.clear()
    this.#loginCharges.clear()
  }

  /** Keys held, for tests and the bench: counters, blocked keys, attempts in flight, keys with charges in flight. */
  size (): { counters: number, blocked: number, inFlight: number, charged: number } {
    return { counters: this.#active.size, blocked: this.#blocked.size, inFlight: this.#inFlight.size, charged: this.#charges.size + this.#loginCharges.size }
  }

  /**
   * Lifting forgets the key entirely (its block, its history, its count):
   * the operator decided this user or network is fine. Returns the blocks
   * lifted, and the keys forgotten.
   */
  #lift (now: number, matches: (b: { user?: string, network?: string }) => boolean): { blocks: BlockInfo[], keys: string[] } {
    const blocks: BlockInfo[] = []
    const keys: string[] = []
    for (const [key, entry] of [...this.#blocked.entries()]) {
      const named = parseCounterKey(key)
      if (named === undefined || !matches(named)) continue
      if (entry.blockedUntil > now) blocks.push(info(key, entry) as BlockInfo)
      this.#blocked.delete(key)
      keys.push(key)
    }
    return { blocks, keys }
  }

  /** Attempts in flight on keys just lifted settle into nothing there (bounded: the attempts the proxy has open). */
  #void (keys: ReadonlySet<string>): void {
    if (keys.size === 0) return
    for (const flight of this.#inFlight.values()) {
      for (let i = 0; i < flight.counters.length; i++) {
        if (keys.has(flight.keys[i] as string)) flight.voided |= 1 << i
      }
    }
  }

  /** The counter entry of a key, wherever it is kept (most keys are counters: their LRU first). */
  #find (key: string): CounterEntry | undefined {
    return this.#active.get(key) ?? (this.#blocked.size === 0 ? undefined : this.#blocked.get(key))
  }

  /** The counter entry of a key, a new one if it has none. */
  #findOrAdd (key: string): CounterEntry {
    let entry = this.#find(key)
    if (entry === undefined) {
      entry = new CounterEntry()
      this.#active.set(key, entry)
    }
    return entry
  }

  /** Gives an attempt's charges back. */
  #release (flight: InFlight): void {
    for (let i = 0; i < flight.keys.length; i++) {
      const charges = this.#chargesOf(flight.counters[i] as CounterKind)
      const key = flight.keys[i] as string
      const n = (charges.get(key) ?? 0) - 1
      if (n > 0) charges.set(key, n)
      else charges.delete(key)
    }
  }

  /** The charges in flight of one kind of counter (see `#loginCharges`). */
  #chargesOf (kind: CounterKind): Map<string, number> {
    return kind === 'logins' ? this.#loginCharges : this.#charges
  }

  /** Attempts whose settle never came (a bug, or a request that outlived inFlightTimeout) give their charges back. */
  #expire (now: number): void {
    this.#now = now
    for (const [id, flight] of this.#inFlight) {
      if (flight.deadline > now) break
      this.#inFlight.delete(id)
      this.#release(flight)
    }
  }

  #droppedOne (what: string, max: number): void {
    this.#dropped++
    if (this.#now - this.#lastWarning < WARN_EVERY_MS) return
    this.#lastWarning = this.#now
    this.#events?.warn(`login guard: guard.maxKeys reached, the least recently used ${what} are being dropped (many distinct users or networks are trying to sign in)`, { maxKeys: max, dropped: this.#dropped })
  }
}

/** Holds nothing: no count, no block or block history, no logins. */
function idle (c: CounterEntry, now: number): boolean {
  refresh(c, now)
  return c.kept === 0 && c.blockedUntil === 0 && (c.history === undefined || c.history.length === 0) && (c.logins === undefined || idle(c.logins, now))
}

/** The counters' kinds, made once per list (a ticket names them; every attempt asks). */
const kindLists = new WeakMap<ReturnType<typeof countersFor>, readonly CounterKind[]>()
function kindsOf (counters: ReturnType<typeof countersFor>): readonly CounterKind[] {
  let kinds = kindLists.get(counters)
  if (kinds === undefined) {
    kinds = Object.freeze(counters.map(([kind]) => kind))
    kindLists.set(counters, kinds)
  }
  return kinds
}

function info (key: string, entry: CounterEntry): BlockInfo | undefined {
  const named = parseCounterKey(key)
  if (named === undefined) return undefined
  return { ...named, until: entry.blockedUntil, failures: entry.blockFailures, times: entry.history?.length ?? 0 }
}
