import type { Config } from '../config/schema.js'
import { deepFreeze } from '../config/freeze.js'
import { compileLimits } from '../domain/limits.js'
import { createWhoami } from '../identity/index.js'
import type { AuditTrail } from '../ops/audit.js'
import type { AskApp } from '../identity/whoami.js'
import type { GatewayContext } from './context.js'
import { RouteTable } from './routes.js'

/**
 * Keys a running gateway cannot change: they are built into listeners,
 * connections, registered routes, the store, or the hashes of every session
 * (the secret). A reload that changes them keeps the running values and says
 * so; everything else (limits, overrides, policy, ask, login and logout
 * routes, whoami, mode, ended, log level…) applies to the next request.
 */
export const RESTART_ONLY = ['listen', 'upstream', 'secret', 'session', 'store', 'admin', 'audit', 'pages', 'proxy', 'sessions', 'preset', 'guard'] as const

export interface ReloadOutcome {
  /** Top-level keys whose new values are now in force. */
  changed: string[]
  /** Keys whose new values need a restart (the running ones stay). */
  needRestart: string[]
}

export function applyReload (ctx: GatewayContext, audit: AuditTrail, next: Config, appClient: AskApp): ReloadOutcome {
  const prev = ctx.config
  const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b)
  const needRestart: string[] = RESTART_ONLY.filter((k) => !same(prev[k], next[k]))
  if (prev.log.requests !== next.log.requests) needRestart.push('log.requests')
  if (prev.ended.redirect !== next.ended.redirect) needRestart.push('ended.redirect')
  const kept: Record<string, unknown> = {}
  for (const k of RESTART_ONLY) kept[k] = prev[k]
  const merged = deepFreeze({
    ...next,
    ...kept,
    log: { ...next.log, requests: prev.log.requests },
    ended: { ...next.ended, redirect: prev.ended.redirect }
  })
  const changed = (Object.keys({ ...prev, ...merged }) as Array<keyof Config>).filter((k) => !same(prev[k], merged[k]))

  // Everything is built before anything is swapped: a failure leaves the old configuration whole.
  const limitFor = compileLimits(merged)
  const routes = new RouteTable(merged.login.routes, merged.logout, appClient)
  const whoami = merged.whoami === undefined ? undefined : createWhoami(merged.whoami, appClient)
  ctx.config = merged
  ctx.limitFor = limitFor
  ctx.routes = routes
  ctx.whoami = whoami
  ctx.decidingPolicy = merged.policy === 'ask' ? merged.ask.fallback : merged.policy
  ctx.log.level = merged.log.level
  audit.setMode(merged.mode)
  return { changed, needRestart }
}

/** The same text for the same values, whatever the order of a mapping's keys (the config is plain data: no functions, no cycles). */
function canonical (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : v)
}
