import type { ClientContext, Result } from 'ioredis'
import type { Config } from '../../config/schema.js'
import { errors } from '../../errors.js'
import { createRedisClient, type RedisClient } from '../../store/redis/connect.js'
import { COUNTERS, type BlockInfo, type BlockList, type ChargeRequest, type ChargeResult, type CounterKind, type FailureCounter, type GuardEvents, type GuardRules, type GuardStore, type Outcome, type SettleResult, type Ticket } from '../guard.js'
import { countersFor } from '../counter.js'
import { parseCounterKey } from '../keys.js'
import { blocksKey, guardKeyBase, redisCounterKey } from './keys.js'
import { LIFT, STEPS } from './scripts.js'

// Typed by augmenting RedisCommander, as ioredis's own example does (and the session store).
type ScriptArg = string | number
declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext> {
    guardSteps: (...args: ScriptArg[]) => Result<unknown, Context>
    guardLift: (...args: ScriptArg[]) => Result<unknown, Context>
  }
}

export interface RedisGuardOptions {
  /** The store section: where Redis is, its key prefix, `commandTimeout`. */
  store: Config['store']
  events: GuardEvents
}

/** Keys per LIFT call (all in one slot: one call may take many, but not unboundedly many). */
const LIFT_BATCH = 500
const SCAN_COUNT = 1000

/**
 * The guard's counters in Redis (standalone, Sentinel or Cluster), shared by
 * every gateway of a fleet: each step atomic inside one script call (scripts.ts STEPS,
 * the steps of one turn of the event loop sent together), every key under
 * one hash tag (keys.ts says why). Its own connection, made like the session
 * store's: fail fast (`commandTimeout`, no offline queue) — a login must not
 * wait a minute on a Redis that is away. When Redis fails, every step throws
 * SESSIONCAP_ERR_STORE_UNAVAILABLE and the caller applies `store.onError`.
 *
 * Bounded: every counter expires by itself (its window, its block, its
 * history, its charges in flight, whichever ends last); the index of blocks
 * drops ended blocks whenever one is added, and expires with the longest.
 */
export class RedisGuardStore implements GuardStore {
  readonly kind = 'redis'
  readonly #client: RedisClient
  readonly #prefix: string
  readonly #base: string
  /** `#base`'s length in bytes: what the scripts cut off a key's name with (Lua counts bytes). */
  readonly #baseBytes: number
  readonly #events: GuardEvents
  #healthy = true
  #closed = false
  /** Steps asked for during this turn of the event loop, sent together at its end (`#send`). */
  #batch: Batch | undefined
  /** Script calls sent and not answered yet (`close` waits for them). */
  readonly #calls = new Set<Promise<void>>()
  /** When a step that failed inside the script was last logged (once a minute at most). */
  #lastStepWarning = Number.NEGATIVE_INFINITY

  private constructor (opts: RedisGuardOptions, client: RedisClient) {
    this.#client = client
    this.#prefix = opts.store.keyPrefix
    this.#base = guardKeyBase(opts.store.keyPrefix)
    this.#baseBytes = Buffer.byteLength(this.#base)
    this.#events = opts.events
  }

  /** Connects without waiting long: a gateway starts while Redis is down, and steps fail until it is up. */
  static async connect (opts: RedisGuardOptions): Promise<RedisGuardStore> {
    const client = createRedisClient(opts.store)
    client.defineCommand('guardSteps', { lua: STEPS })
    client.defineCommand('guardLift', { lua: LIFT })
    const store = new RedisGuardStore(opts, client)
    client.on('error', (err: Error) => { store.#down(err) })
    client.on('ready', () => { store.#up() })
    const wait = Math.max(2_000, opts.store.commandTimeout * 10)
    await Promise.race([
      client.connect().catch((err: unknown) => { store.#down(err as Error) }),
      new Promise((resolve) => { setTimeout(resolve, wait).unref() })
    ])
    return store
  }

  // charge and settle: one promise each, no async wrappers (every login takes both steps).
  charge (req: ChargeRequest): Promise<ChargeResult> {
    let applied = 0
    for (const [kind] of countersFor(req.rules, req.device, req.unnamed === true)) applied |= 1 << COUNTERS.indexOf(kind)
    return this.#send(req.rules, req.user, req.network, 'c', req.now, req.id, applied).then((reply): ChargeResult => {
      if (reply[0] === 1) return { allowed: true, ticket: { id: req.id, user: req.user, network: req.network, counters: fromMask(reply[1] as number) } }
      return { allowed: false, retryAfterMs: reply[1] as number, refusedBy: fromMask(reply[2] as number), blocked: reply[3] === 1 }
    })
  }

  settle (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): Promise<SettleResult> {
    let mask = 0
    for (const kind of ticket.counters) mask |= 1 << COUNTERS.indexOf(kind)
    return this.#send(rules, ticket.user, ticket.network, outcome, now, ticket.id, mask).then((reply): SettleResult => {
      const blocks: BlockInfo[] = []
      for (let i = 1; i + 3 < reply.length; i += 4) {
        const counter = COUNTERS[(reply[i] as number) - 1] as FailureCounter
        const block: BlockInfo = { counter, until: reply[i + 1] as number, failures: reply[i + 2] as number, times: reply[i + 3] as number }
        if (counter !== 'network') block.user = ticket.user
        if (counter !== 'user') block.network = ticket.network
        blocks.push(block)
      }
      return { settled: reply[0] === 1, blocks }
    })
  }

  async blocks (now: number, limit: number): Promise<BlockList> {
    return await this.#run(async () => {
      const index = blocksKey(this.#prefix)
      const [total, listed] = await Promise.all([
        this.#client.zcount(index, `(${now}`, '+inf'),
        this.#client.zrangebyscore(index, `(${now}`, '+inf', 'WITHSCORES', 'LIMIT', 0, limit)
      ])
      const members: Array<[string, number]> = []
      for (let i = 0; i + 1 < listed.length; i += 2) members.push([listed[i] as string, Number(listed[i + 1])])
      const details = await Promise.all(members.map(async ([member]) => await this.#client.hmget(this.#base + member, 'k', 'h')))
      const blocks: BlockInfo[] = []
      members.forEach(([member, until], i) => {
        const named = parseCounterKey(member)
        const [failures, history] = details[i] ?? []
        if (named !== undefined) blocks.push({ ...named, until, failures: Number(failures ?? 0), times: history == null ? 0 : history.split(',').length })
      })
      return { blocks, total }
    })
  }

  async liftUser (user: string, now: number): Promise<BlockInfo[]> {
    // Its user counter (and logins, in the same key) starts afresh whether blocked or not: the operator vouched for the account.
    const found = await this.#scanIndex(`un:${user}:*`, () => true)
    const keys = [redisCounterKey(this.#prefix, 'user', user, ''), ...found.map((m) => this.#base + m)]
    return await this.#lift(keys, now)
  }

  async liftNetworks (networks: readonly string[], now: number): Promise<BlockInfo[]> {
    const wanted = new Set(networks)
    // A scan of the index, matched here: a range names up to 65,536 networks, too many patterns for MATCH.
    const found = await this.#scanIndex('*', (member) => {
      const network = parseCounterKey(member)?.network
      return network !== undefined && wanted.has(network)
    })
    return await this.#lift(found.map((m) => this.#base + m), now)
  }

  async ping (): Promise<void> {
    await this.#run(async () => { await this.#client.ping() })
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Steps asked for before the close are sent and answered first (a settle
    // asked as the gateway stops still counts), each within commandTimeout.
    this.#flush()
    await Promise.allSettled(this.#calls)
    this.#client.disconnect()
  }

  /**
   * Runs a step together with the other steps asked for in the same turn of
   * the event loop: one script call for all of them (scripts.ts STEPS), sent
   * at the end of the turn (setImmediate: never a timer). Under load a
   * gateway receives many logins per turn, two steps each, and a command's
   * encoding, write and reply cost the gateway and Redis far more than the
   * step itself (bench/analysis.md). Each step is still decided alone and in
   * the order asked. A batch holds steps of one set of rules (a reload sends
   * what was asked before it first) and at most MAX_STEPS. Fails as `#run`
   * does: SESSIONCAP_ERR_STORE_UNAVAILABLE.
   */
  #send (rules: GuardRules, user: string, network: string, what: 'c' | Outcome, now: number, id: string, mask: number): Promise<number[]> {
    if (this.#closed) return Promise.reject(new errors.STORE_UNAVAILABLE({ cause: new Error('login guard store closed') }))
    if (this.#batch !== undefined && this.#batch.rules !== rules) this.#flush()
    let batch = this.#batch
    if (batch === undefined) {
      batch = { rules, keys: [blocksKey(this.#prefix)], args: [rulesArg(rules), this.#baseBytes], waiting: [] }
      this.#batch = batch
      setImmediate(() => { if (this.#batch === batch) this.#flush() })
    }
    const base = this.#base
    batch.keys.push(`${base}un:${user}:${network}`, `${base}n:${network}`, `${base}u:${user}`)
    batch.args.push(what, now, id, mask)
    const reply = new Promise<number[]>((resolve, reject) => { batch.waiting.push({ resolve, reject }) })
    if (batch.waiting.length >= MAX_STEPS) this.#flush()
    return reply
  }

  #flush (): void {
    const batch = this.#batch
    if (batch === undefined) return
    this.#batch = undefined
    const { keys, args, waiting } = batch
    const call: Promise<void> = this.#client.guardSteps(keys.length, ...keys, ...args).then((replies) => {
      if (!this.#healthy) this.#up()
      waiting.forEach((step, i) => {
        const reply = (replies as unknown[])[i]
        // A step that failed inside the script (scripts.ts: {-1, error}) fails alone.
        if (Array.isArray(reply) && reply[0] !== -1) step.resolve(reply as number[])
        else step.reject(new errors.STORE_UNAVAILABLE({ cause: this.#stepFailed(Array.isArray(reply) ? String(reply[1]) : 'no reply') }))
      })
    }, (err: unknown) => {
      this.#down(err as Error)
      const failed = new errors.STORE_UNAVAILABLE({ cause: err })
      for (const step of waiting) step.reject(failed)
    }).finally(() => { this.#calls.delete(call) })
    this.#calls.add(call)
  }

  /**
   * A step that failed inside the script while Redis answers (a guard key of
   * another type, written by hand): logged, once a minute at most (every
   * attempt of that user would fail alike), and the login goes by
   * `store.onError`.
   */
  #stepFailed (message: string): Error {
    const err = new Error(`login guard: a step failed in Redis: ${message}`)
    const now = Date.now()
    if (now - this.#lastStepWarning >= 60_000) {
      this.#lastStepWarning = now
      this.#events.warn(`${err.message}; login attempts whose keys it names are decided by store.onError`)
    }
    return err
  }

  /** Members of the blocks index, found with ZSCAN (a few at a time: never one long command). */
  async #scanIndex (match: string, keep: (member: string) => boolean): Promise<string[]> {
    const index = blocksKey(this.#prefix)
    const found: string[] = []
    let cursor = '0'
    do {
      const [next, items] = await this.#run(async () => await this.#client.zscan(index, cursor, 'MATCH', match, 'COUNT', SCAN_COUNT))
      for (let i = 0; i < items.length; i += 2) if (keep(items[i] as string)) found.push(items[i] as string)
      cursor = next
    } while (cursor !== '0')
    return [...new Set(found)]
  }

  async #lift (keys: string[], now: number): Promise<BlockInfo[]> {
    const lifted: BlockInfo[] = []
    for (let i = 0; i < keys.length; i += LIFT_BATCH) {
      const batch = keys.slice(i, i + LIFT_BATCH)
      const reply = await this.#run(async () => await this.#client.guardLift(batch.length + 1, blocksKey(this.#prefix), ...batch, now, this.#baseBytes)) as Array<string | number>
      for (let j = 0; j + 3 < reply.length; j += 4) {
        const named = parseCounterKey(String(reply[j]))
        if (named !== undefined) lifted.push({ ...named, until: Number(reply[j + 1]), failures: Number(reply[j + 2]), times: Number(reply[j + 3]) })
      }
    }
    return lifted
  }

  /**
   * One step, or SESSIONCAP_ERR_STORE_UNAVAILABLE. Every command already
   * gives up after `commandTimeout` (the client is made so, connect.ts): no
   * timer of our own per login.
   */
  async #run<T> (op: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new errors.STORE_UNAVAILABLE({ cause: new Error('login guard store closed') })
    try {
      const result = await op()
      if (!this.#healthy) this.#up()
      return result
    } catch (err) {
      this.#down(err as Error)
      throw new errors.STORE_UNAVAILABLE({ cause: err })
    }
  }

  #down (err: Error): void {
    if (!this.#healthy || this.#closed) return
    this.#healthy = false
    const log = this.#events.error ?? this.#events.warn
    log(`login guard: Redis is unreachable (${err.message}); login attempts are decided by store.onError until it answers again`)
  }

  #up (): void {
    if (this.#healthy || this.#closed) return
    this.#healthy = true
    this.#events.warn('login guard: Redis answers again')
  }
}

/** Most steps in one script call: its keys and arguments stay a few kilobytes. */
const MAX_STEPS = 64

interface Batch {
  rules: GuardRules
  /** The blocks index, then userNetwork, network and user per step (keys.ts `counterKey`, spelled out: every attempt makes them). */
  keys: string[]
  /** The rules and the keys' common start's length, then per step: what, now, id, mask. */
  args: ScriptArg[]
  waiting: Array<{ resolve: (reply: number[]) => void, reject: (err: unknown) => void }>
}

/** The rules as STEPS reads them (scripts.ts), made once per rules (a reload makes new ones). */
function rulesArg (rules: GuardRules): string {
  let arg = rulesArgs.get(rules)
  if (arg === undefined) {
    const rule = (r: GuardRules['user']): number[] => r === undefined ? [0, 0] : [r.failures, r.window]
    arg = [...rule(rules.userNetwork), ...rule(rules.network), ...rule(rules.user), rules.logins?.max ?? 0, rules.logins?.window ?? 0,
      rules.inFlightTimeout, rules.block.base, rules.block.max, rules.block.history].join(',')
    rulesArgs.set(rules, arg)
  }
  return arg
}
const rulesArgs = new WeakMap<GuardRules, string>()

function fromMask (mask: number): CounterKind[] {
  return COUNTERS.filter((_kind, i) => (mask & (1 << i)) !== 0)
}
