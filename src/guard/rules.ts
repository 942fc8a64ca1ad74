import type { Config, GuardConfig } from '../config/schema.js'
import type { GuardRules } from './guard.js'

const HOUR = 3_600_000

/** The stores' view of the `guard:` section (defaults come from the schema, never from here). */
export function guardRules (config: GuardConfig): GuardRules {
  const rules: GuardRules = {
    block: { base: config.block.base, max: config.block.max, history: config.block.history },
    inFlightTimeout: config.inFlightTimeout
  }
  if (config.userNetwork !== false) rules.userNetwork = { ...config.userNetwork }
  if (config.network !== false) rules.network = { ...config.network }
  if (config.user !== false) rules.user = { ...config.user }
  if (config.maxLoginsPerHour > 0) rules.logins = { max: config.maxLoginsPerHour, window: HOUR }
  return rules
}

/**
 * Whether the guard refuses what it would refuse: `guard.mode`, else the
 * top-level `mode`. Under observe the proxy forwards a refused attempt, logs
 * and counts "would refuse", and does not settle it (nothing was charged).
 */
export function guardEnforced (config: Config): boolean {
  if (config.guard === false) return false
  return (config.guard.mode ?? config.mode) === 'enforce'
}
