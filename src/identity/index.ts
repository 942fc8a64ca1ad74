import type { UserSourceConfig } from '../config/schema.js'
import { normalizeUser } from '../domain/user.js'
import { formStrategy } from './form.js'
import { headerStrategy } from './header.js'
import type { IdentityStrategy, LoginRequest } from './identity.js'
import { jsonStrategy } from './json.js'

export type { IdentityStrategy, LoginRequest } from './identity.js'

export function createIdentityStrategy (source: UserSourceConfig): IdentityStrategy {
  if (source.form !== undefined) return formStrategy(source.form)
  if (source.json !== undefined) return jsonStrategy(source.json)
  if (source.header !== undefined) return headerStrategy(source.header)
  // The schema requires exactly one of the three.
  throw new Error('a login route needs user: { form }, { json } or { header }')
}

export type Identified =
  | { kind: 'user', user: string }
  /** Several different names in one request: the gateway cannot know which one the app will log in. */
  | { kind: 'ambiguous' }
  | { kind: 'unknown' }

/** Applies a strategy and the name normalisation; several spellings of one name are one name. */
export function identify (strategy: IdentityStrategy, req: LoginRequest, caseInsensitive: boolean): Identified {
  let user: string | undefined
  for (const raw of strategy.candidates(req)) {
    const name = normalizeUser(raw, caseInsensitive)
    if (name === undefined) continue
    if (user !== undefined && user !== name) return { kind: 'ambiguous' }
    user = name
  }
  return user === undefined ? { kind: 'unknown' } : { kind: 'user', user }
}
