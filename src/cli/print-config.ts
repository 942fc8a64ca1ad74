import { stringify } from 'yaml'
import { ConfigSchema } from '../config/schema.js'

const MASK = '********'
/** Keys whose value is a secret wherever they appear. */
const SECRET_KEYS = new Set(['secret', 'token', 'password', 'sentinelPassword'])
/** Mappings of header names to values, which may carry credentials. */
const HEADER_MAPS = new Set(['headers', 'webhookHeaders'])

/**
 * `sessioncap check --print`: the configuration as it takes effect (presets,
 * `${ENV}` and defaults applied), as YAML, with every secret masked (like
 * `nginx -T`): `secret`, tokens and passwords, header values (but the
 * gateway's own `{cookie:NAME}` templates), and the password of a URL.
 */
export function printableConfig (effective: Readonly<Record<string, unknown>>): string {
  // In the reference's order (the schema's), whatever order the file and the preset wrote.
  const order = Object.keys(ConfigSchema.properties)
  const sorted = Object.fromEntries(Object.entries(effective).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)))
  return stringify(masked(sorted, ''), { lineWidth: 0 })
}

function masked (value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value.map((v) => masked(v, ''))
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (HEADER_MAPS.has(k) && v !== null && typeof v === 'object' && !Array.isArray(v)) {
        out[k] = Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([h, hv]) => [h, typeof hv === 'string' && /^\{cookie:[^}]+\}$/.test(hv) ? hv : MASK]))
      } else {
        out[k] = masked(v, k)
      }
    }
    return out
  }
  if (typeof value === 'string') {
    if (SECRET_KEYS.has(key)) return value === '' ? '' : MASK
    return withoutUrlPassword(value)
  }
  return value
}

/** `redis://user:pw@host` → `redis://user:********@host`; anything else as it is. */
function withoutUrlPassword (value: string): string {
  return value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@/\s]+@/i, `$1${MASK}@`)
}
