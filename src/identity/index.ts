import type { LoginRouteConfig } from '../config/schema.js'
import { normalizeUser } from '../domain/user.js'
import { jwtStrategy, responseHeaderStrategy, responseJsonStrategy } from './answer-strategies.js'
import { formStrategy } from './form.js'
import { headerStrategy } from './header.js'
import { MalformedLogin, type IdentityStrategy, type LoginRequest } from './identity.js'
import { jsonStrategy } from './json.js'
import { whoamiStrategy, type AskApp } from './whoami.js'

export type { AnswerIdentity, Found, IdentityStrategy, LoginAnswer, LoginRequest, RequestIdentity } from './identity.js'
export { createWhoami, type AskApp, type AskContext, type Whoami, type WhoamiAnswer } from './whoami.js'

type Source = LoginRouteConfig['user']

export function createIdentityStrategy (source: Source, ask: AskApp): IdentityStrategy {
  if (source.form !== undefined) return formStrategy(source.form)
  if (source.json !== undefined) return jsonStrategy(source.json)
  if (source.header !== undefined) return headerStrategy(source.header)
  if (source.responseHeader !== undefined) return responseHeaderStrategy(source.responseHeader)
  if (source.responseJson !== undefined) return responseJsonStrategy(source.responseJson)
  if (source.jwt !== undefined) return jwtStrategy(source.jwt)
  if (source.whoami !== undefined) return whoamiStrategy(source.whoami, ask)
  // The schema requires exactly one.
  throw new Error('a login route needs one way to read the user')
}

export type Identified =
  | { kind: 'user', user: string }
  /** Several different names: the gateway cannot know which one the app will log in. */
  | { kind: 'ambiguous' }
  | { kind: 'unknown' }
  /** Formed in a way apps read differently (MalformedLogin): the gateway cannot be sure whom the app will read. */
  | { kind: 'malformed', why: string }

/** Applies the name normalisation to a strategy's candidates; several spellings of one name are one name. */
export function identified (candidates: readonly string[], caseInsensitive: boolean): Identified {
  let user: string | undefined
  for (const raw of candidates) {
    const name = normalizeUser(raw, caseInsensitive)
    if (name === undefined) continue
    if (user !== undefined && user !== name) return { kind: 'ambiguous' }
    user = name
  }
  return user === undefined ? { kind: 'unknown' } : { kind: 'user', user }
}

/** A request-phase strategy applied to a request. */
export function identify (strategy: IdentityStrategy, req: LoginRequest, caseInsensitive: boolean): Identified {
  if (strategy.phase !== 'request') return { kind: 'unknown' }
  let candidates: string[]
  try {
    candidates = strategy.candidates(req)
  } catch (err) {
    if (err instanceof MalformedLogin) return { kind: 'malformed', why: err.why }
    throw err
  }
  return identified(candidates, caseInsensitive)
}
