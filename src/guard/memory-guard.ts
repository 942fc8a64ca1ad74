import { LRUCache } from 'lru-cache'
import { CounterEntry, countersFor, judge, judgeCount, keepFailure, refresh } from './counter.js'
import { CHARGES, CounterTable, fingerprintOf, KEPT, LOGINS_CHARGES, LOGINS_KEPT, LOGINS_WINDOW_END, WINDOW_END } from './counter-table.js'
import { type BlockInfo, type BlockList, type ChargeRequest, type ChargeResult, type CounterKind, type GuardEvents, type GuardRules, type GuardStore, type Outcome, type SettleResult, type Ticket } from './guard.js'
import { counterKey, parseCounterKey } from './keys.js'

export interface MemoryGuardOptions {
  /** Most counter keys kept (`guard.maxKeys`); blocked keys are kept apart, up to as many again. */
  maxKeys: number
  events?: GuardEvents
}

/**
 * One attempt in flight, from its charge to its settle (or its deadline).
 * It is the ticket the proxy holds, so a settle finds it without a lookup
 * (no Map keyed by attempt id, no second object per attempt); the attempts
 * in flight are linked in charge order, hence (one `inFlightTimeout`) in
 * deadline order, and a settle unlinks its own at once. It holds its
 * counters' fingerprints, in its counters' order (made once, at the charge:
 * the settle reuses them), and which of them a lift voided since (bit i:
 * counter i), so its settle counts nothing there. `logins` shares the
 * user's entry but not the user's charges: each has its own.
 */
class InFlightCharge implements Ticket {
  // The proxy's guard completes a ticket in place (login-guard.ts
  // `decision`): declared here, so every ticket has one shape.
  renewDevice = false
  unnamed = false
  deviceId: string | undefined = undefined
  /** Still in flight: neither settled nor dropped at its deadline. */
  live = true
  voided = 0
  older: InFlightCharge | undefined = undefined
  newer: InFlightCharge | undefined = undefined

  readonly owner: MemoryGuardStore
  readonly id: string
  /** The hashes its keys are named by (a block's name: keys.ts `counterKey`). */
  readonly user: string
  readonly network: string
  readonly counters: readonly CounterKind[]
  /** Each counter's fingerprint (counter-table.ts), two numbers each. */
  readonly fps: number[]
  readonly deadline: number

  constructor (owner: MemoryGuardStore, req: ChargeRequest, counters: readonly CounterKind[], fps: number[], deadline: number) {
    this.owner = owner
    this.id = req.id
    this.user = req.user
    this.network = req.network
    this.counters = counters
    this.fps = fps
    this.deadline = deadline
  }

  /** A ticket written out (a log, a test's message) is the ticket, not its store nor its neighbours in flight. */
  toJSON (): Ticket {
    return { id: this.id, user: this.user, network: this.network, counters: this.counters }
  }
}

const WARN_EVERY_MS = 60_000

/**
 * The guard's counters in this gateway's memory. Every method runs to
 * completion without awaiting anything, so each step is atomic with respect
 * to every other request of this process: 500 attempts fired at once are
 * decided one after the other, and exactly `threshold` of them pass.
 *
 * Bounded under abuse (nothing that grows with traffic is unbounded):
 * - Counters sit in a table of at most `maxKeys` records in one
 *   ArrayBuffer, least recently used dropped first (counter-table.ts:
 *   ~80–120 B a key with its share of the index, no object for the
 *   collector to copy or trace). Expiry is read from the
 *   entry's own times (the clock is passed in), never from timers.
 * - Blocked keys (and keys with blocks in their history, which decide the
 *   next block's length) are moved to an LRU of their own (lru-cache, `max`
 *   `maxKeys`: preallocated, no timers — NOTES-proxy.md), so a flood
 *   of new counters can never push a block out. Among blocks, the one
 *   dropped first at the bound is the one nobody has tried for longest: an
 *   attacker who keeps trying keeps his own block alive by trying.
 * - What an attacker gains when old counters are dropped: a counter pushed
 *   out forgets its failures (at most threshold − 1 of them); its charges in
 *   flight are kept apart (`#charges`), so a burst of guesses in flight
 *   still holds its threshold. To push one out he must first make `maxKeys` newer keys, each
 *   a login attempt that is itself counted — from one network he is blocked
 *   after `guard.network.failures` of them — and the keys of a user he keeps
 *   attacking stay the most recently used. Dropping the least recently used
 *   counter is the least bad choice: refusing new keys at the bound would
 *   let him refuse every login of everyone, and dropping blocks would lift
 *   them. The first drop is logged, then at most once a minute.
 * - Attempts in flight are one record each (the ticket itself), from charge
 *   to settle, dropped at `inFlightTimeout` (oldest first, checked on every
 *   step): their number is bounded by the requests the proxy has open.
 *   Their charges sit in a table of their own, one entry per key with
 *   charges in flight, dropped with its last charge. A key's entry in
 *   `#table` is made only to keep a failure or a login, and dropped as soon
 *   as it holds neither, so a successful login of a new user leaves one
 *   entry (its logins this hour) and nothing else.
 */
export class MemoryGuardStore implements GuardStore {
  readonly kind = 'memory'
  /** Every key's counter and (a user's key) logins: one entry of typed arrays each (counter-table.ts). */
  readonly #table: CounterTable
  /**
   * The charges in flight of each key (`CHARGES`, `LOGINS_CHARGES`), apart
   * from `#table`: an entry only while an attempt is in flight, so this
   * table stays as small as the attempts open (a few cache lines under
   * load), and a login that succeeds at once never makes an entry in
   * `#table` for its user and network counters (only its logins). A flood
   * of new counters in `#table` never pushes a charge in flight out.
   */
  readonly #charges: CounterTable
  /**
   * Keys blocked, or with blocks in their history: their counter lives here
   * (as objects: few, and the admin's list names their hashes), their
   * logins still in `#table`, their charges in flight in `#charges`.
   */
  readonly #blocked: LRUCache<string, CounterEntry>
  /** Attempts in flight, oldest (first due) to newest. */
  #oldest: InFlightCharge | undefined = undefined
  #newest: InFlightCharge | undefined = undefined
  #inFlight = 0
  readonly #events: GuardEvents | undefined
  /** A fingerprint being made (counter-table.ts `fingerprintOf` writes into it). */
  readonly #fp = new Int32Array(2)
  #now = 0
  #dropped = 0
  #lastWarning = Number.NEGATIVE_INFINITY
  /** Charges forgotten at `#charges`' bound: warned apart (each may let a guess through), never hidden by the counters' warning. */
  #droppedCharges = 0
  #lastChargesWarning = Number.NEGATIVE_INFINITY

  constructor (opts: MemoryGuardOptions) {
    this.#events = opts.events
    this.#table = new CounterTable(opts.maxKeys, () => { this.#droppedOne('counters', opts.maxKeys) })
    // At most three entries an attempt in flight (the user's serves its
    // logins): as many as `maxKeys` is over 33,000 attempts open at once.
    // Beyond that the least recently charged key's charges are forgotten
    // (logged, apart from the counters' warning).
    this.#charges = new CounterTable(opts.maxKeys, () => { this.#chargesForgotten(opts.maxKeys) })
    this.#blocked = new LRUCache<string, CounterEntry>({
      max: opts.maxKeys,
      dispose: (_entry, _key, reason) => { if (reason === 'evict') this.#droppedOne('blocked keys', opts.maxKeys) }
    })
  }

  async charge (req: ChargeRequest): Promise<ChargeResult> {
    return this.chargeNow(req)
  }

  /** `charge`, without a promise (the memory store never waits). */
  chargeNow (req: ChargeRequest): ChargeResult {
    const now = req.now
    this.#expire(now)
    // (Ids are fresh for every attempt, and a step is never re-sent in memory: no lookup by id.)
    const counters = countersFor(req.rules, req.device, req.unnamed === true)
    const table = this.#table
    const inFlight = this.#charges
    const fps = new Array<number>(counters.length * 2)
    const anyBlocked = this.#blocked.size > 0
    let retry = 0
    let blocked = false
    let refusedBy: CounterKind[] | undefined
    for (let i = 0; i < counters.length; i++) {
      const [kind, limit] = counters[i] as readonly [CounterKind, number, number]
      // The logins counter comes after the user's, whose fingerprint it shares.
      if (kind !== 'logins' || i === 0 || counters[i - 1]?.[0] !== 'user') this.#fingerprint(kind, req.user, req.network)
      const fa = this.#fp[0] as number
      const fb = this.#fp[1] as number
      fps[2 * i] = fa
      fps[2 * i + 1] = fb
      const e = table.find(fa, fb)
      const c = inFlight.peek(fa, fb)
      let wait: number
      if (kind === 'logins') {
        const charges = c === -1 ? 0 : inFlight.count(c, LOGINS_CHARGES)
        wait = e === -1 ? judgeCount(0, 0, limit, charges, now) : judgeLogins(table, e, limit, charges, now)
      } else {
        const holder = anyBlocked ? this.#blocked.get(counterKey(kind, req.user, req.network)) : undefined
        const charges = c === -1 ? 0 : inFlight.count(c, CHARGES)
        if (holder !== undefined) {
          refresh(holder, now)
          wait = judge(holder, limit, charges, now)
          if (wait > 0 && holder.blockedUntil > now) blocked = true
        } else {
          wait = e === -1 ? judgeCount(0, 0, limit, charges, now) : judgeCounter(table, e, limit, charges, now)
        }
      }
      if (wait > 0) {
        (refusedBy ??= []).push(kind)
        retry = Math.max(retry, wait)
      }
    }
    // A refused attempt leaves nothing behind: not even a key.
    if (refusedBy !== undefined) return { allowed: false, retryAfterMs: retry, refusedBy, blocked }

    const kinds = kindsOf(counters)
    for (let i = 0; i < kinds.length; i++) {
      const fa = fps[2 * i] as number
      const fb = fps[2 * i + 1] as number
      // (The user's entry, made for its user counter, serves its logins.)
      // (`find`: a key charged again is the most recently charged, the last whose charges its bound would forget.)
      let c = inFlight.find(fa, fb)
      if (c === -1) c = inFlight.add(fa, fb)
      const field = kinds[i] === 'logins' ? LOGINS_CHARGES : CHARGES
      inFlight.setCount(c, field, inFlight.count(c, field) + 1)
    }
    const flight = new InFlightCharge(this, req, kinds, fps, now + req.rules.inFlightTimeout)
    const newest = this.#newest
    if (newest === undefined) this.#oldest = flight
    else {
      newest.newer = flight
      flight.older = newest
    }
    this.#newest = flight
    this.#inFlight++
    return { allowed: true, ticket: flight }
  }

  async settle (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): Promise<SettleResult> {
    return this.settleNow(ticket, outcome, now, rules)
  }

  /** `settle`, without a promise. */
  settleNow (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): SettleResult {
    this.#expire(now)
    const flight = ticket
    // A ticket of another store, or settled or dropped already: nothing to settle.
    if (!(flight instanceof InFlightCharge) || flight.owner !== this || !flight.live) return { settled: false, blocks: [] }
    this.#unlink(flight)
    const table = this.#table
    const anyBlocked = this.#blocked.size > 0
    const blocks: BlockInfo[] = []
    for (let i = 0; i < flight.counters.length; i++) {
      const kind = flight.counters[i] as CounterKind
      const fa = flight.fps[2 * i] as number
      const fb = flight.fps[2 * i + 1] as number
      // Its charge is given back whatever the outcome: what the outcome keeps is counted below.
      this.#release(fa, fb, kind)
      // A key lifted by the operator since the charge: its charge settles into nothing (the lift is not undone).
      if ((flight.voided & (1 << i)) !== 0) {
        this.#dropIfIdle(fa, fb, now)
        continue
      }
      // (Only what the outcome keeps makes an entry: a success that clears or refunds finds none for a new key, and makes none.)
      let e = table.find(fa, fb)
      if (kind === 'logins') {
        // Only a success is a login; anything else is refunded (its charge, released above, was all it held).
        if (outcome === 'success' && rules.logins !== undefined) {
          if (e === -1) e = table.add(fa, fb)
          refreshLogins(table, e, now)
          if (table.time(e, LOGINS_WINDOW_END) === 0) table.setTime(e, LOGINS_WINDOW_END, now + rules.logins.window)
          table.setCount(e, LOGINS_KEPT, table.count(e, LOGINS_KEPT) + 1)
        }
      } else if (outcome === 'success' && kind === 'userNetwork') {
        // This user signed in from here: their typos here are forgiven
        // (count only failures, reset on success: express-rate-limit#71,
        // rack-attack#675). Not the network's count (an attacker with one
        // valid account of his own would reset it between guesses), nor the
        // user's (the attacker's failures elsewhere stay counted).
        if (e !== -1) {
          table.setCount(e, KEPT, 0)
          table.setTime(e, WINDOW_END, 0)
        }
        const holder = anyBlocked ? this.#blocked.get(counterKey(kind, flight.user, flight.network)) : undefined
        if (holder !== undefined) {
          holder.kept = 0
          holder.windowEnd = 0
        }
      } else if (outcome === 'failure') {
        const rule = rules[kind]
        if (rule !== undefined) {
          const key = anyBlocked ? counterKey(kind, flight.user, flight.network) : undefined
          const holder = key === undefined ? undefined : this.#blocked.get(key)
          if (holder !== undefined) {
            refresh(holder, now)
            if (keepFailure(holder, rule.failures, rule.window, rules.block, now)) blocks.push(info(key as string, holder) as BlockInfo)
          } else {
            if (e === -1) e = table.add(fa, fb)
            const block = this.#keepFailure(table, e, rule, rules.block, now)
            if (block !== undefined) {
              // Blocks live apart, where no flood of new counters can push them out.
              const name = key ?? counterKey(kind, flight.user, flight.network)
              this.#blocked.set(name, block)
              blocks.push(info(name, block) as BlockInfo)
            }
          }
        }
      }
      // Left holding nothing, it is dropped: one per user and network, the table would fill with them.
      if (e !== -1 && idle(table, e, now)) table.remove(e)
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
    // Its user counter and logins start afresh whether blocked or not: the operator vouched for the account.
    this.#fingerprint('user', user, '')
    const fa = this.#fp[0] as number
    const fb = this.#fp[1] as number
    const table = this.#table
    const e = table.peek(fa, fb)
    if (e !== -1) {
      table.setCount(e, KEPT, 0)
      table.setTime(e, WINDOW_END, 0)
      table.setCount(e, LOGINS_KEPT, 0)
      table.setTime(e, LOGINS_WINDOW_END, 0)
      if (idle(table, e, now)) table.remove(e)
    }
    const lifted = this.#lift(now, (b) => b.user === user)
    this.#void([fa, fb, ...this.#fingerprintsOf(lifted.keys)])
    return lifted.blocks
  }

  async liftNetworks (networks: readonly string[], now: number): Promise<BlockInfo[]> {
    const wanted = new Set(networks)
    const lifted = this.#lift(now, (b) => b.network !== undefined && wanted.has(b.network))
    this.#void(this.#fingerprintsOf(lifted.keys))
    return lifted.blocks
  }

  async ping (): Promise<void> {}

  async close (): Promise<void> {
    this.#table.clear()
    this.#charges.clear()
    this.#blocked.clear()
    while (this.#oldest !== undefined) this.#unlink(this.#oldest)
  }

  /**
   * Keys held, for tests and the bench: keys counting something (failures,
   * logins), blocked keys, attempts in flight, counters with charges in flight.
   */
  size (): { counters: number, blocked: number, inFlight: number, charged: number } {
    const table = this.#table
    const inFlight = this.#charges
    let counters = 0
    let charged = 0
    for (const e of table.entries()) {
      if (table.count(e, KEPT) > 0 || table.count(e, LOGINS_KEPT) > 0) counters++
    }
    for (const c of inFlight.entries()) {
      if (inFlight.count(c, CHARGES) > 0) charged++
      if (inFlight.count(c, LOGINS_CHARGES) > 0) charged++
    }
    return { counters, blocked: this.#blocked.size, inFlight: this.#inFlight, charged }
  }

  /**
   * Keeps a failure in a key's entry; when it trips, returns the key's
   * counter as it now is (blocked, with its history), for `#blocked`, and the
   * entry keeps only its charges and logins.
   */
  #keepFailure (table: CounterTable, e: number, rule: { failures: number, window: number }, block: GuardRules['block'], now: number): CounterEntry | undefined {
    refreshCounter(table, e, now)
    if (table.count(e, KEPT) + 1 < rule.failures) {
      if (table.time(e, WINDOW_END) === 0) table.setTime(e, WINDOW_END, now + rule.window)
      table.setCount(e, KEPT, table.count(e, KEPT) + 1)
      return undefined
    }
    // The one failure that trips it: counted by counter.ts, as every store does.
    const entry = new CounterEntry()
    entry.kept = table.count(e, KEPT)
    entry.windowEnd = table.time(e, WINDOW_END)
    table.setCount(e, KEPT, 0)
    table.setTime(e, WINDOW_END, 0)
    return keepFailure(entry, rule.failures, rule.window, block, now) ? entry : undefined
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

  /** Attempts in flight on keys just lifted (fingerprints, in pairs) settle into nothing there (bounded: the attempts the proxy has open). */
  #void (fps: readonly number[]): void {
    if (fps.length === 0) return
    for (let flight = this.#oldest; flight !== undefined; flight = flight.newer) {
      for (let i = 0; i < flight.counters.length; i++) {
        for (let j = 0; j < fps.length; j += 2) {
          if (flight.fps[2 * i] === fps[j] && flight.fps[2 * i + 1] === fps[j + 1]) flight.voided |= 1 << i
        }
      }
    }
  }

  /** The fingerprints of counters' names (keys.ts `counterKey`), in pairs. */
  #fingerprintsOf (keys: readonly string[]): number[] {
    const out: number[] = []
    for (const key of keys) {
      const named = parseCounterKey(key)
      if (named === undefined) continue
      this.#fingerprint(named.counter, named.user ?? '', named.network ?? '')
      out.push(this.#fp[0] as number, this.#fp[1] as number)
    }
    return out
  }

  /** A counter's fingerprint, into `#fp`: the user's and the logins counters share one (and one entry). */
  #fingerprint (kind: CounterKind, user: string, network: string): void {
    switch (kind) {
      case 'userNetwork': fingerprintOf(1, user, network, this.#fp); break
      case 'network': fingerprintOf(2, network, undefined, this.#fp); break
      case 'user':
      case 'logins': fingerprintOf(3, user, undefined, this.#fp)
    }
  }

  /** Attempts whose settle never came (a bug, or a request that outlived inFlightTimeout) give their charges back. */
  #expire (now: number): void {
    this.#now = now
    for (let flight = this.#oldest; flight !== undefined && flight.deadline <= now; flight = this.#oldest) {
      this.#unlink(flight)
      for (let i = 0; i < flight.counters.length; i++) {
        const fa = flight.fps[2 * i] as number
        const fb = flight.fps[2 * i + 1] as number
        this.#release(fa, fb, flight.counters[i] as CounterKind)
        this.#dropIfIdle(fa, fb, now)
      }
    }
  }

  /** Gives one charge back (never below none: its entry may have been dropped for room and made again since); an entry left with none goes. */
  #release (fa: number, fb: number, kind: CounterKind): void {
    const inFlight = this.#charges
    const c = inFlight.peek(fa, fb)
    if (c === -1) return
    const field = kind === 'logins' ? LOGINS_CHARGES : CHARGES
    const charges = inFlight.count(c, field)
    if (charges > 0) inFlight.setCount(c, field, charges - 1)
    if (inFlight.count(c, CHARGES) === 0 && inFlight.count(c, LOGINS_CHARGES) === 0) inFlight.remove(c)
  }

  /** A key's counter entry whose windows are over and that holds nothing else goes (its recency untouched). */
  #dropIfIdle (fa: number, fb: number, now: number): void {
    const e = this.#table.peek(fa, fb)
    if (e !== -1 && idle(this.#table, e, now)) this.#table.remove(e)
  }

  /** Takes an attempt out of those in flight (settled, dropped, or the store closed). */
  #unlink (flight: InFlightCharge): void {
    const { older, newer } = flight
    if (older === undefined) this.#oldest = newer
    else older.newer = newer
    if (newer === undefined) this.#newest = older
    else newer.older = older
    flight.older = undefined
    flight.newer = undefined
    flight.live = false
    this.#inFlight--
  }

  #droppedOne (what: string, max: number): void {
    this.#dropped++
    if (this.#now - this.#lastWarning < WARN_EVERY_MS) return
    this.#lastWarning = this.#now
    this.#events?.warn(`login guard: guard.maxKeys reached, the least recently used ${what} are being dropped (many distinct users or networks are trying to sign in)`, { maxKeys: max, dropped: this.#dropped })
  }

  #chargesForgotten (max: number): void {
    this.#droppedCharges++
    if (this.#now - this.#lastChargesWarning < WARN_EVERY_MS) return
    this.#lastChargesWarning = this.#now
    this.#events?.warn('login guard: guard.maxKeys keys have charges in flight, the least recently charged key\'s charges are being forgotten (more login attempts open at once than the guard can count: raise guard.maxKeys)', { maxKeys: max, dropped: this.#droppedCharges })
  }
}

/** counter.ts `refresh`, for an entry of the table (never blocked: blocks live in `#blocked`). */
function refreshCounter (table: CounterTable, e: number, now: number): void {
  const end = table.time(e, WINDOW_END)
  if (end !== 0 && end <= now) {
    table.setCount(e, KEPT, 0)
    table.setTime(e, WINDOW_END, 0)
  }
}

function refreshLogins (table: CounterTable, e: number, now: number): void {
  const end = table.time(e, LOGINS_WINDOW_END)
  if (end !== 0 && end <= now) {
    table.setCount(e, LOGINS_KEPT, 0)
    table.setTime(e, LOGINS_WINDOW_END, 0)
  }
}

function judgeCounter (table: CounterTable, e: number, limit: number, charges: number, now: number): number {
  refreshCounter(table, e, now)
  return judgeCount(table.count(e, KEPT), table.time(e, WINDOW_END), limit, charges, now)
}

function judgeLogins (table: CounterTable, e: number, limit: number, charges: number, now: number): number {
  refreshLogins(table, e, now)
  return judgeCount(table.count(e, LOGINS_KEPT), table.time(e, LOGINS_WINDOW_END), limit, charges, now)
}

/** Holds nothing: no count, no logins (charges in flight live in `#charges`; a block or its history in `#blocked`). */
function idle (table: CounterTable, e: number, now: number): boolean {
  refreshCounter(table, e, now)
  refreshLogins(table, e, now)
  return table.count(e, KEPT) === 0 && table.count(e, LOGINS_KEPT) === 0
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
