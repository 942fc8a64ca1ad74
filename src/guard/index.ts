import type { Config } from '../config/schema.js'
import type { GuardEvents, GuardStore } from './guard.js'
import { LoginGuard } from './login-guard.js'
import { MemoryGuardStore } from './memory-guard.js'
import { RedisGuardStore } from './redis/redis-guard.js'
import { guardRules } from './rules.js'

export type { AttemptDecision, AttemptInput, LoginTicket, SettleReport } from './login-guard.js'
export type { BlockInfo, BlockList, CounterKind, GuardEvents, GuardStore, Outcome } from './guard.js'
export { LoginGuard } from './login-guard.js'

/**
 * The login guard the configuration asks for, on the store type the
 * sessions use (memory: this gateway's own; redis: the fleet's), or
 * undefined with `guard: false`. `secrets`: the gateway's secret first (the
 * configured one, or the per-run key of a memory store without one).
 */
export async function openLoginGuard (config: Config, secrets: ReadonlyArray<string | Buffer>, events: GuardEvents): Promise<LoginGuard | undefined> {
  const guard = config.guard
  if (guard === false) return undefined
  let store: GuardStore
  switch (config.store.type) {
    case 'memory':
      store = new MemoryGuardStore({ maxKeys: guard.maxKeys, events })
      break
    case 'redis':
      store = await RedisGuardStore.connect({ store: config.store, events })
      break
    default:
      // The schema admits no other type; this keeps the switch honest when one is added.
      throw new Error(`unknown guard store type: ${String((config.store as { type: unknown }).type)}`)
  }
  return new LoginGuard({
    store,
    secrets,
    rules: guardRules(guard),
    ipv6Prefix: guard.ipv6Prefix,
    deviceMaxAge: guard.device === false ? undefined : guard.device.maxAge
  })
}
