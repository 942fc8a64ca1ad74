import { Value } from '@sinclair/typebox/value'
import { ValueErrorType } from '@sinclair/typebox/errors'
import type { TSchema } from '@sinclair/typebox'
import { GuardSchema, expectedOf } from './schema.js'
import { parseDuration } from './duration.js'
import { show } from './problem.js'

type Raw = Record<string, unknown>
type Add = (segments: (string | number)[], message: string) => void
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Raw : {})
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const ms = (v: unknown): number | undefined => { const s = str(v); return s === undefined ? undefined : parseDuration(s) }

/**
 * The `guard:` section (docs/guard.md). `guard` may be `false`, so the schema
 * makes it a union, and a union's error is reported once, at `guard`, without
 * saying which of its settings is wrong: each one is reported here, at its own
 * key. Then what the schema cannot see: lengths that must be longer than 0,
 * a block's base longer than its cap, charges dropped before the app's answer.
 */
export function checkGuard (config: Raw, add: Add): void {
  const guard = config.guard
  if (guard === false || guard === undefined || guard === null || typeof guard !== 'object' || Array.isArray(guard)) return
  settingProblems(GuardSchema, guard, ['guard'], add)
  // With its defaults (the loader gives none to a union that failed).
  const g = obj(Value.Default(GuardSchema, structuredClone(guard)))
  for (const counter of ['userNetwork', 'network', 'user']) {
    if (ms(obj(g[counter]).window) === 0) add(['guard', counter, 'window'], 'expected a duration longer than 0s')
  }
  const block = obj(g.block)
  const base = ms(block.base)
  const max = ms(block.max)
  if (base === 0) add(['guard', 'block', 'base'], 'expected a duration longer than 0s (a block that lasts nothing blocks nothing)')
  if (base !== undefined && max !== undefined && base > max) add(['guard', 'block', 'max'], `expected at least block.base (${str(block.base) ?? ''}): the longest block cannot be shorter than the first`)
  if (ms(obj(g.device).maxAge) === 0) add(['guard', 'device', 'maxAge'], 'expected a duration longer than 0s')
  const device = obj(g.device)
  if (str(device.cookie) !== undefined && device.cookie === obj(config.session).cookie) add(['guard', 'device', 'cookie'], 'is the app\'s session cookie: the device cookie needs a name of its own')
  // A charge dropped while its request still waits on the app would let one more attempt through.
  const inFlight = ms(g.inFlightTimeout)
  const proxyTimeout = ms(obj(config.proxy).timeout)
  if (inFlight !== undefined && proxyTimeout !== undefined && inFlight <= proxyTimeout) {
    add(['guard', 'inFlightTimeout'], `expected longer than proxy.timeout (${str(obj(config.proxy).timeout) ?? ''}): an attempt still waiting for the app must keep its charge`)
  }
}

/**
 * Each wrong setting at its own key. A union (`false` or a mapping) that got a
 * mapping is looked into: the mapping's own problems say more than the union's.
 */
function settingProblems (schema: TSchema, value: unknown, at: string[], add: Add): void {
  // A union none of whose variants fits gets no defaults from the loader: here they are filled, so only what was written is reported.
  for (const error of Value.Errors(schema, Value.Default(schema, structuredClone(value)))) {
    const segments = [...at, ...error.path.split('/').slice(1).map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))]
    const variants = (error.schema as { anyOf?: TSchema[] }).anyOf?.filter((v) => (v as { type?: unknown }).type === 'object') ?? []
    if (error.type === ValueErrorType.Union && variants.length === 1 && obj(error.value) === error.value) {
      settingProblems(variants[0] as TSchema, error.value, segments, add)
    } else if (error.type === ValueErrorType.ObjectAdditionalProperties) {
      add(segments, `unknown key (expected one of ${Object.keys((error.schema as { properties?: object }).properties ?? {}).join(', ')})`)
    } else {
      add(segments, `expected ${expectedOf(error.schema) ?? 'another value'}, got ${show(error.value)}`)
    }
  }
}

