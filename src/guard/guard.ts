/**
 * The login guard (issue #14): how many failed logins reach the app. This
 * file holds the one interface every guard store implements, and the plain
 * data it takes and returns; it knows nothing of HTTP. Every implementation
 * passes the one contract suite in `test/guard/contract.ts`.
 *
 * An attempt is a login request that names a user. It is judged by up to four
 * counters, each keyed by a keyed hash (keys.ts), never a name or an address:
 *
 * - `userNetwork`: failures of this user from this client network;
 * - `network`: failures from this client network, whatever the user (high, so
 *   an office behind one NAT stays usable — django-defender#161);
 * - `user`: failures of this user from anywhere (a distributed attack on one
 *   account — django-axes#608, symfony#61932);
 * - `logins`: successful logins of this user (`guard.maxLoginsPerHour`).
 *
 * Two steps per attempt, each one atomic (one synchronous step in memory, one
 * Lua script on Redis), so a threshold holds exactly however many attempts
 * race, on however many gateways, and valid logins never wait on each other
 * (the fix for keycloak#31726 that then serialised logins, keycloak#48272):
 *
 * 1. `charge`, before the request reaches the app: if any counter's key is
 *    blocked, or is at its threshold counting the charges still in flight,
 *    the attempt is refused (nothing is charged); otherwise it is charged to
 *    each of its counters, in flight.
 * 2. `settle`, once the app answered: a failure keeps its charges (and a
 *    counter that reaches its threshold blocks its key); a success clears the
 *    userNetwork counter, refunds the network and user charges and keeps the
 *    logins one; a neutral outcome (5xx, timeout, client gone) refunds all.
 *
 * Time is always passed in (`now`), never read inside a store.
 */

export const COUNTERS = ['userNetwork', 'network', 'user', 'logins'] as const
export type CounterKind = typeof COUNTERS[number]
/** The counters that count failures and block their key (`logins` only refuses until its window ends). */
export type FailureCounter = Exclude<CounterKind, 'logins'>

/**
 * What the app's answer meant, as the proxy classifies it: `success`,
 * `failure` (any other answer below 500), or `neutral` (5xx, gateway timeout,
 * client gone: the attempt proved nothing, so it is refunded, never counted).
 */
export type Outcome = 'success' | 'failure' | 'neutral'

/** `failures` failures within `window` ms (from the first of them) block the key. */
export interface CounterRule {
  failures: number
  window: number
}

/** The guard's configuration as the stores use it; a counter left undefined is off. */
export interface GuardRules {
  userNetwork?: CounterRule
  network?: CounterRule
  user?: CounterRule
  /** Successful logins of one user within `window` (`guard.maxLoginsPerHour` in 1 h); undefined: unlimited. */
  logins?: { max: number, window: number }
  /**
   * A tripped counter blocks its key for `base × 2^(n-1)`, at most `max`, n
   * being the times that key was blocked within `history` (this block
   * included). `max` is also how a deployment makes blocks (nearly)
   * permanent: they are never permanent unless configured so.
   */
  block: { base: number, max: number, history: number }
  /**
   * How long a charge may stay in flight. A charge whose settle never comes
   * (a gateway that died mid-request) is dropped then; a settle that comes
   * later finds nothing to settle. Longer than the proxy's own timeout.
   */
  inFlightTimeout: number
}

export interface ChargeRequest {
  /** The attempt's id, random: a step re-sent after a reconnect (ioredis does) changes nothing more. */
  id: string
  /** The user's keyed hash (keys.ts). */
  user: string
  /** The client network's keyed hash (keys.ts). */
  network: string
  /**
   * The attempt carries a valid device token naming this user: it is judged
   * and charged by its userNetwork counter (and logins) only, so an attacker
   * who blocks the user or the network does not lock out the user's own
   * devices (authelia#4730). With the userNetwork counter off, the token
   * changes nothing (counter.ts `countersFor`).
   */
  device: boolean
  /**
   * The request named no user the gateway could read (none, an empty or
   * over-long name, or a spelling only the app reads): `user` is then the
   * shared key of no name, and the attempt is judged and charged by its
   * network's counters only (userNetwork under that key, and network), never
   * by the user or logins counters: there is no account to protect, and a
   * step of a login that names nobody (a second factor on the same route)
   * must not share one budget with every other gateway user. Undefined: false.
   */
  unnamed?: boolean
  now: number
  rules: GuardRules
}

/** What `settle` needs back: plain data, so the proxy may keep it with the request. */
export interface Ticket {
  readonly id: string
  readonly user: string
  readonly network: string
  /** The counters this attempt was charged to. */
  readonly counters: readonly CounterKind[]
}

export type ChargeResult =
  | { allowed: true, ticket: Ticket }
  /**
   * Refused before reaching the app; nothing was charged. `retryAfterMs`:
   * until the end of the longest block among `refusedBy`, until the logins
   * window ends, or a short retry (1 s) for a counter full only of charges in
   * flight (their answers are due). `blocked`: at least one key is blocked.
   */
  | { allowed: false, retryAfterMs: number, refusedBy: CounterKind[], blocked: boolean }

/** One blocked key. Hashes only: an operator looks a user or network up by hashing it (keys.ts). */
export interface BlockInfo {
  counter: FailureCounter
  /** The user's keyed hash (userNetwork and user counters). */
  user?: string
  /** The network's keyed hash (userNetwork and network counters). */
  network?: string
  /** When the block ends (ms). */
  until: number
  /** Failures counted when it tripped. */
  failures: number
  /** Times this key was blocked within `block.history`, this block included (its length came from it). */
  times: number
}

export interface SettleResult {
  /** False when there was nothing to settle: settled before (a re-sent step), dropped (inFlightTimeout), or lifted. */
  settled: boolean
  /** Keys this outcome blocked (for `login_blocked` and `sessioncap_login_blocks_total{counter}`). */
  blocks: BlockInfo[]
}

export interface BlockList {
  /** Active blocks, soonest to end first, at most the limit asked for. */
  blocks: BlockInfo[]
  /** How many are active in all. */
  total: number
}

/**
 * Where the guard's counters are kept: `memory-guard.ts` (one gateway) or
 * `redis/redis-guard.ts` (a fleet).
 */
export interface GuardStore {
  readonly kind: string
  /** Step 1, before forwarding: refuse, or charge the attempt to its counters — one atomic step. */
  charge (req: ChargeRequest): Promise<ChargeResult>
  /** Step 2, once the outcome is known — one atomic step; settling twice changes nothing more. */
  settle (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules): Promise<SettleResult>
  /**
   * `charge` and `settle` without a promise, for a store that never waits
   * (memory): a login then takes both steps synchronously, as part of the
   * request's own handling (three promises and their microtasks fewer per
   * login). A store that talks to a server leaves them undefined.
   */
  readonly chargeNow?: (req: ChargeRequest) => ChargeResult
  readonly settleNow?: (ticket: Ticket, outcome: Outcome, now: number, rules: GuardRules) => SettleResult
  /** Active blocks (for the admin API). */
  blocks (now: number, limit: number): Promise<BlockList>
  /**
   * Lifts every block of this user (its user key and each of its userNetwork
   * keys) and resets its user and logins counters. Returns the blocks lifted.
   */
  liftUser (user: string, now: number): Promise<BlockInfo[]>
  /** Lifts every block of these networks (their network keys and each userNetwork key with them). */
  liftNetworks (networks: readonly string[], now: number): Promise<BlockInfo[]>
  /** Resolves when the store can be used; throws the store's unavailable error otherwise. */
  ping (): Promise<void>
  close (): Promise<void>
}

/** What a guard store tells its operator about (bounds reached, outages). Kept apart from any logging library. */
export interface GuardEvents {
  warn: (message: string, details?: Record<string, unknown>) => void
  error?: (message: string, details?: Record<string, unknown>) => void
}
