import type { CounterKind } from '../guard.js'
import { counterKey } from '../keys.js'

/**
 * The guard's Redis keys. All of them share one hash tag, `{g}`:
 *
 *   {prefix}{g}:un:USER:NET   HASH  the userNetwork counter of a user and a network
 *   {prefix}{g}:n:NET         HASH  the network counter
 *   {prefix}{g}:u:USER        HASH  the user counter, and the user's successful logins (guard.maxLoginsPerHour)
 *   {prefix}{g}:blocks        ZSET  blocked counter (name after `{g}:`) → blocked until (ms)
 *
 * A counter's hash: `f` failures kept, `e` when its window ends, `b` blocked
 * until, `k` failures when the block tripped, `h` when it was blocked within
 * block.history (comma-separated ms), and one `i:ID` field per attempt in
 * flight (→ the time its charge is dropped). The user's hash also holds the
 * logins counter: `lf` logins kept, `le` when its window ends, `j:ID` per
 * attempt in flight (one key fewer per attempt). Times are the gateways'
 * clock. USER and NET are the keyed hashes of keys.ts: no name or address is
 * ever in Redis.
 *
 * Why one tag for every guard key: one attempt must judge and charge its
 * user's, its network's and its user+network's counters in one script
 * (atomic, so a threshold holds exactly), and on Redis Cluster a script may
 * only touch keys of one slot. A network's counter is shared by every user,
 * a user's by every network: no tag finer than "the guard" puts all the
 * counters one attempt needs in one slot. Splitting the step (user keys in
 * one script, network keys in another, with a refund when the second
 * refuses) would no longer be one decision: a refused attempt would hold a
 * network charge for a moment (refusing a colleague's valid login), and a
 * gateway dying between the two would leak one. So the guard lives on one
 * slot, hence one master (and its replicas), which is acceptable because:
 * - only login attempts reach it (two short steps each, in batches), not page
 *   requests; a single Redis core runs tens of thousands of them a second
 *   (bench/guard-admit.mjs), far beyond any login rate;
 * - what it holds is small and expires (a counter with its window, a block
 *   with block.history), so the slot's memory is bounded by the attack rate
 *   times the windows, not by the number of users;
 * - the sessions themselves (the bulk of the data and of the traffic) stay
 *   spread over the cluster by their users' tags.
 */
export function guardKeyBase (prefix: string): string {
  return `${prefix}{g}:`
}

export function redisCounterKey (prefix: string, kind: CounterKind, user: string, network: string): string {
  return guardKeyBase(prefix) + counterKey(kind, user, network)
}

export function blocksKey (prefix: string): string {
  return `${guardKeyBase(prefix)}blocks`
}
