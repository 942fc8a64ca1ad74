import type { RequestIdentity, LoginRequest } from './identity.js'
import { checkedNames, loginBodyReadings, NOT_JSON } from './body-text.js'
import { foldCase } from './field-names.js'

/** `user: { json: /email }` — a field of a JSON login body, by JSON pointer (RFC 6901). */
export function jsonStrategy (pointer: string): RequestIdentity {
  const tokens = parsePointer(pointer)
  return {
    phase: 'request',
    needsBody: true,
    describe: `JSON body ${pointer}`,
    candidates (req: LoginRequest): string[] {
      // Every reading an app might make of the body (see bodyReadings); disagreeing ones make the login ambiguous.
      const values: string[] = []
      for (const { json: value } of loginBodyReadings(req)) {
        if (value === NOT_JSON) continue
        // Every member an app might take for the pointer's (ASP.NET Core and Go match JSON keys without regard to case: field-names.ts).
        for (const found of resolveInRequest(value, tokens)) if (typeof found === 'string' || typeof found === 'number') values.push(String(found))
      }
      return checkedNames(req, values)
    }
  }
}

export function parsePointer (pointer: string): string[] {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
}

/**
 * What a path names in a request's JSON, as every app might read it: an
 * object's own members (never an inherited one such as `__proto__`) under
 * the key as written or in any case (each match, so that two spellings
 * naming two users make the login ambiguous), and, where `indexArrays`, an
 * array's element by index (a JSON pointer's reading; a form field's
 * brackets, `user[email]`, name members only).
 */
export function resolveInRequest (value: unknown, tokens: readonly string[], indexArrays = true): unknown[] {
  let at: unknown[] = [value]
  for (const token of tokens) {
    const folded = foldCase(token)
    const index = indexArrays && /^(0|[1-9][0-9]*)$/.test(token) ? Number(token) : -1
    const next: unknown[] = []
    for (const v of at) {
      if (Array.isArray(v)) {
        if (index !== -1 && index < v.length) next.push(v[index])
      } else if (v !== null && typeof v === 'object') {
        for (const k of Object.keys(v)) if (k === token || foldCase(k) === folded) next.push((v as Record<string, unknown>)[k])
      }
    }
    at = next
  }
  return at
}

/** What a pointer names in the app's own JSON (an answer, whoami's): keys as written. */
export function resolvePointer (value: unknown, tokens: readonly string[]): unknown {
  let current = value
  for (const token of tokens) {
    if (Array.isArray(current)) {
      if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined
      current = current[Number(token)]
    } else if (current !== null && typeof current === 'object' && Object.hasOwn(current, token)) {
      current = (current as Record<string, unknown>)[token]
    } else {
      return undefined
    }
  }
  return current
}
