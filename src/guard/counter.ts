import type { CounterKind, GuardRules } from './guard.js'

/**
 * One counter key's state and the rules that move it: the memory store runs
 * these functions, and the Redis scripts (redis/scripts.ts) mirror them line
 * for line, so both stores decide alike (the contract suite checks they do).
 *
 * A window starts at the first failure (or success, for `logins`) kept in it
 * and lasts the counter's `window`: "5 failures in 15 minutes" means five
 * within 15 minutes of the first. When the window is over the counter starts
 * again from 0. When a counter trips, its key is blocked and the counter is
 * reset: after the block, the key starts afresh (the block was its penalty).
 */
export class CounterEntry {
  /** Failures (for logins: successes) kept in the current window. */
  kept = 0
  /** When the current window ends (ms); 0: no window open. */
  windowEnd = 0
  /** Blocked until then (ms); 0: not blocked. */
  blockedUntil = 0
  /** Failures counted when the current block tripped (for the admin's list). */
  blockFailures = 0
  /**
   * When this key was blocked within `block.history`, oldest first (pruned
   * when it is blocked again); undefined: never. Its length when a block
   * trips is that block's n.
   */
  history: number[] | undefined = undefined
  /** The user's logins counter, kept in the user's entry (keys.ts `counterKey`); undefined elsewhere. */
  logins: CounterEntry | undefined = undefined
}

/** A counter full only of charges in flight is retried this soon: their answers are due any moment. */
export const SATURATED_RETRY_MS = 1_000
/** Block times remembered per key: beyond this many the length is at its cap anyway (2^31 × base). */
export const MAX_HISTORY = 32

/** Brings a counter up to `now`: an ended block or window is over (and forgotten). */
export function refresh (c: CounterEntry, now: number): void {
  if (c.blockedUntil !== 0 && c.blockedUntil <= now) {
    c.blockedUntil = 0
    c.blockFailures = 0
  }
  if (c.windowEnd !== 0 && c.windowEnd <= now) {
    c.kept = 0
    c.windowEnd = 0
  }
}

/**
 * Whether this counter lets one more attempt through now, with `inFlight`
 * charges on its key not yet settled: 0 if so, else how long until it may
 * (ms). A refreshed counter (or none: nothing kept) is expected.
 */
export function judge (c: CounterEntry | undefined, limit: number, inFlight: number, now: number): number {
  if (c !== undefined) {
    if (c.blockedUntil > now) return c.blockedUntil - now
    // Only `logins` keeps a full count (a failure counter blocks as it fills);
    // a failure counter can be full here only when its threshold was lowered by a reload.
    if (c.kept >= limit) return Math.max(c.windowEnd - now, 1)
  }
  if ((c?.kept ?? 0) + inFlight >= limit) return SATURATED_RETRY_MS
  return 0
}

/**
 * `judge` for a counter kept as bare numbers (memory-guard.ts keeps its
 * counters in typed arrays, never blocked there: blocks live apart).
 */
export function judgeCount (kept: number, windowEnd: number, limit: number, inFlight: number, now: number): number {
  if (kept > 0 && kept >= limit) return Math.max(windowEnd - now, 1)
  if (kept + inFlight >= limit) return SATURATED_RETRY_MS
  return 0
}

/** Keeps one failure (or login) in the counter's window, opening a window if none is. */
export function keep (c: CounterEntry, window: number, now: number): void {
  if (c.windowEnd === 0) c.windowEnd = now + window
  c.kept++
}

/** How long the n-th block within `block.history` lasts: base × 2^(n-1), at most max. */
export function blockLength (n: number, block: GuardRules['block']): number {
  return Math.min(block.base * 2 ** Math.max(0, n - 1), block.max)
}

/**
 * Keeps a failure; if the counter now holds `limit`, blocks its key.
 * Returns true when it blocked. A failure that arrives while the key is
 * blocked (an answer that was in flight when another attempt tripped it) adds
 * nothing: the block already is the penalty, and the key starts afresh after it.
 */
export function keepFailure (c: CounterEntry, limit: number, window: number, block: GuardRules['block'], now: number): boolean {
  if (c.blockedUntil > now) return false
  keep(c, window, now)
  if (c.kept < limit) return false
  const history = (c.history ?? []).filter((t) => t > now - block.history)
  history.push(now)
  if (history.length > MAX_HISTORY) history.splice(0, history.length - MAX_HISTORY)
  c.history = history
  c.blockedUntil = now + blockLength(history.length, block)
  c.blockFailures = c.kept
  c.kept = 0
  c.windowEnd = 0
  return true
}

/**
 * The counters an attempt is judged and charged by, with their threshold and
 * window, in a fixed order. An attempt with a valid device token for its user
 * skips the network and user counters (guard.ts, `ChargeRequest.device`) —
 * unless the userNetwork counter is off: a token must never mean "no failure
 * counter at all" (a stolen cookie would be a licence to guess). An attempt
 * that names nobody (`ChargeRequest.unnamed`) has its network's counters
 * only.
 */
export function countersFor (rules: GuardRules, device: boolean, unnamed = false): ReadonlyArray<readonly [CounterKind, number, number]> {
  // Made once per rules (a reload makes new ones): every attempt asks.
  let made = applied.get(rules)
  if (made === undefined) {
    made = [listCounters(rules, 'named'), listCounters(rules, 'device'), listCounters(rules, 'unnamed')]
    applied.set(rules, made)
  }
  return made[unnamed ? 2 : device ? 1 : 0]
}

type Applied = ReadonlyArray<readonly [CounterKind, number, number]>
const applied = new WeakMap<GuardRules, [Applied, Applied, Applied]>()

function listCounters (rules: GuardRules, attempt: 'named' | 'device' | 'unnamed'): Applied {
  const device = attempt === 'device' && rules.userNetwork !== undefined
  const out: Array<[CounterKind, number, number]> = []
  if (rules.userNetwork !== undefined) out.push(['userNetwork', rules.userNetwork.failures, rules.userNetwork.window])
  if (!device && rules.network !== undefined) out.push(['network', rules.network.failures, rules.network.window])
  if (attempt === 'unnamed') return out
  if (!device && rules.user !== undefined) out.push(['user', rules.user.failures, rules.user.window])
  if (rules.logins !== undefined) out.push(['logins', rules.logins.max, rules.logins.window])
  return out
}
