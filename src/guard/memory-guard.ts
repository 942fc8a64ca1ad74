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
 * One counter of an attempt: `entry` its count, `holder` the entry its key
 * holds (the same, but for logins, which live in the user's entry).
 */
interface Part {
  kind: CounterKind
  key: string
  entry: CounterEntry
  holder: CounterEntry
}

/** One attempt in flight: the counters it was charged to, until its settle (or its deadline). */
interface InFlight {
  deadline: number
  parts: Part[]
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
 *   is bounded by the requests the proxy has open.
 */
export class MemoryGuardStore implements GuardStore {
  readonly kind = 'memory'
  readonly #active: LRUCache<string, CounterEntry>
  readonly #blocked: LRUCache<string, CounterEntry>
  /** In charge order, hence (with one `inFlightTimeout`) in deadline order. */
  readonly #inFlight = new Map<string, InFlight>()
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
    if (known !== undefined) return { allowed: true, ticket: { id: req.id, user: req.user, network: req.network, counters: known.parts.map((p) => p.kind) } }

    const found: Array<{ kind: CounterKind, key: string, holder: CounterEntry | undefined }> = []
    let retry = 0
    let blocked = false
    const refusedBy: CounterKind[] = []
    for (const [kind, limit] of countersFor(req.rules, req.device)) {
      const key = counterKey(kind, req.user, req.network)
      // The user's and the logins counters share a key: one lookup.
      const previous = found[found.length - 1]
      const holder = previous?.key === key
        ? previous.holder
        // Most keys are counters: their LRU first; the blocked keys' only when it holds any.
        : this.#active.get(key) ?? (this.#blocked.size === 0 ? undefined : this.#blocked.get(key))
      const entry = kind === 'logins' ? holder?.logins : holder
      if (entry !== undefined) {
        refresh(entry, now)
        const wait = judge(entry, limit, now)
        if (wait > 0) {
          refusedBy.push(kind)
          retry = Math.max(retry, wait)
          if (entry.blockedUntil > now) blocked = true
        }
      }
      found.push({ kind, key, holder })
    }
    // A refused attempt leaves nothing behind: not even a key.
    if (refusedBy.length > 0) return { allowed: false, retryAfterMs: retry, refusedBy, blocked }

    const parts: Part[] = []
    for (const { kind, key, holder } of found) {
      const previous = parts[parts.length - 1]
      let h = previous?.key === key ? previous.holder : holder
      if (h === undefined) {
        h = new CounterEntry()
        this.#active.set(key, h)
      }
      let entry = h
      if (kind === 'logins') {
        h.logins ??= new CounterEntry()
        entry = h.logins
      }
      entry.inFlight++
      parts.push({ kind, key, entry, holder: h })
    }
    this.#inFlight.set(req.id, { deadline: now + req.rules.inFlightTimeout, parts })
    return { allowed: true, ticket: { id: req.id, user: req.user, network: req.network, counters: parts.map((p) => p.kind) } }
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
    const blocks: BlockInfo[] = []
    for (const { kind, key, entry, holder } of flight.parts) {
      if (entry.inFlight > 0) entry.inFlight--
      // A key lifted by the operator (or dropped at guard.maxKeys) since the
      // charge: its charge settles into nothing, and must not bring the old
      // entry (its count, its block history) back over a newer one.
      if ((this.#active.peek(key) ?? this.#blocked.peek(key)) !== holder) continue
      refresh(entry, now)
      if (kind === 'logins') {
        // Only a success is a login; anything else is refunded.
        if (outcome === 'success' && rules.logins !== undefined) keep(entry, rules.logins.window, now)
        continue
      }
      if (outcome === 'success' && kind === 'userNetwork') {
        // This user signed in from here: their typos here are forgiven
        // (count only failures, reset on success: express-rate-limit#71,
        // rack-attack#675). Not the network's count (an attacker with one
        // valid account of his own would reset it between guesses), nor the
        // user's (the attacker's failures elsewhere stay counted).
        entry.kept = 0
        entry.windowEnd = 0
        continue
      }
      const rule = rules[kind]
      if (outcome !== 'failure' || rule === undefined) continue
      if (keepFailure(entry, rule.failures, rule.window, rules.block, now)) {
        // Blocks live apart, where no flood of new counters can push them out.
        this.#active.delete(key)
        this.#blocked.set(key, holder)
        blocks.push(info(key, entry) as BlockInfo)
      }
    }
    // A counter left holding nothing (a success's userNetwork, a refunded
    // network) is dropped rather than kept: the LRU then holds only keys with
    // something to remember, and a busy login page does not churn 100,000
    // long-lived entries (each one old-space garbage for the collector).
    for (const { key, holder } of flight.parts) {
      if (idle(holder, now) && this.#active.peek(key) === holder) this.#active.delete(key)
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
    this.#active.delete(counterKey('user', user, ''))
    return this.#lift(now, (b) => b.user === user)
  }

  async liftNetworks (networks: readonly string[], now: number): Promise<BlockInfo[]> {
    const wanted = new Set(networks)
    return this.#lift(now, (b) => b.network !== undefined && wanted.has(b.network))
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#active.clear()
    this.#blocked.clear()
    this.#inFlight.clear()
  }

  /** Keys held, for tests and the bench: counters, blocked keys, attempts in flight. */
  size (): { counters: number, blocked: number, inFlight: number } {
    return { counters: this.#active.size, blocked: this.#blocked.size, inFlight: this.#inFlight.size }
  }

  /**
   * Lifting forgets the key entirely (its block, its history, its count):
   * the operator decided this user or network is fine. Charges still in
   * flight on it settle into nothing.
   */
  #lift (now: number, matches: (b: { user?: string, network?: string }) => boolean): BlockInfo[] {
    const lifted: BlockInfo[] = []
    for (const [key, entry] of [...this.#blocked.entries()]) {
      const named = parseCounterKey(key)
      if (named === undefined || !matches(named)) continue
      if (entry.blockedUntil > now) lifted.push(info(key, entry) as BlockInfo)
      this.#blocked.delete(key)
    }
    return lifted
  }

  /** Attempts whose settle never came (a bug, or a request that outlived inFlightTimeout) give their charges back. */
  #expire (now: number): void {
    this.#now = now
    for (const [id, flight] of this.#inFlight) {
      if (flight.deadline > now) break
      this.#inFlight.delete(id)
      for (const { entry } of flight.parts) if (entry.inFlight > 0) entry.inFlight--
    }
  }

  #droppedOne (what: string, max: number): void {
    this.#dropped++
    if (this.#now - this.#lastWarning < WARN_EVERY_MS) return
    this.#lastWarning = this.#now
    this.#events?.warn(`login guard: guard.maxKeys reached, the least recently used ${what} are being dropped (many distinct users or networks are trying to sign in)`, { maxKeys: max, dropped: this.#dropped })
  }
}

/** Holds nothing: no count, no charge in flight, no block or block history, no logins. */
function idle (c: CounterEntry, now: number): boolean {
  refresh(c, now)
  return c.kept === 0 && c.inFlight === 0 && c.blockedUntil === 0 && (c.history === undefined || c.history.length === 0) && (c.logins === undefined || idle(c.logins, now))
}

function info (key: string, entry: CounterEntry): BlockInfo | undefined {
  const named = parseCounterKey(key)
  if (named === undefined) return undefined
  return { ...named, until: entry.blockedUntil, failures: entry.blockFailures, times: entry.history?.length ?? 0 }
}
