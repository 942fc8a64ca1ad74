import { readFileSync } from 'node:fs'
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose'
import { bodyReadings } from './body-text.js'
import { headerValue, type AnswerIdentity, type Found, type LoginAnswer } from './identity.js'
import { parsePointer, resolvePointer } from './json.js'

/** `user: { responseHeader: X-Logged-In-User }` — the app names the user in its answer (the header still reaches the client). */
export function responseHeaderStrategy (name: string): AnswerIdentity {
  return {
    phase: 'answer',
    needsAnswerBody: false,
    describe: `answer header ${name}`,
    async find (answer: LoginAnswer): Promise<Found> {
      const v = headerValue(answer.headers, name)
      return { values: v === undefined ? [] : [v] }
    }
  }
}

/** `user: { responseJson: /user/email }` — a field of the app's JSON answer (the body still reaches the client unchanged). */
export function responseJsonStrategy (pointer: string): AnswerIdentity {
  const tokens = parsePointer(pointer)
  return {
    phase: 'answer',
    needsAnswerBody: true,
    describe: `answer JSON ${pointer}`,
    async find (answer: LoginAnswer): Promise<Found> {
      const values: string[] = []
      for (const text of bodyReadings(answer.body, undefined)) {
        try {
          const v = resolvePointer(JSON.parse(text), tokens)
          if (typeof v === 'string' || typeof v === 'number') values.push(String(v))
        } catch {
          // Not JSON: nobody named here.
        }
      }
      return { values }
    }
  }
}

export interface JwtSource {
  cookie?: string
  header?: string
  claim: string
  secret?: string
  jwks?: string
}

/**
 * `user: { jwt: { cookie: token, claim: sub } }` — a claim of the token the
 * app issues with the login (in a cookie it sets, or a header of its answer).
 * With `secret` (HMAC) or `jwks` (a file of public keys) the token is
 * verified first, and one that does not verify names nobody.
 */
export function jwtStrategy (source: JwtSource): AnswerIdentity {
  // Keys are read once, when the gateway starts.
  const jwks = source.jwks === undefined ? undefined : createLocalJWKSet(JSON.parse(readFileSync(source.jwks, 'utf8')) as Parameters<typeof createLocalJWKSet>[0])
  const secret = source.secret === undefined ? undefined : new TextEncoder().encode(source.secret)
  return {
    phase: 'answer',
    needsAnswerBody: false,
    describe: `claim "${source.claim}" of the JWT in ${source.cookie !== undefined ? `cookie ${source.cookie}` : `answer header ${String(source.header)}`}`,
    async find (answer: LoginAnswer): Promise<Found> {
      const token = source.cookie !== undefined ? cookieSetBy(answer.setCookies, source.cookie) : bearer(headerValue(answer.headers, source.header ?? 'authorization'))
      if (token === undefined) return { values: [] }
      let payload: JWTPayload
      try {
        if (secret !== undefined) payload = (await jwtVerify(token, secret)).payload
        else if (jwks !== undefined) payload = (await jwtVerify(token, jwks)).payload
        else payload = decodeJwt(token)
      } catch {
        return { values: [] }
      }
      const v = payload[source.claim]
      return { values: typeof v === 'string' || typeof v === 'number' ? [String(v)] : [] }
    }
  }
}

function bearer (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(value)
  return m === null ? value.trim() : m[1]
}

/** The value the answer sets a cookie to (the last Set-Cookie of that name). */
export function cookieSetBy (setCookies: readonly string[], name: string): string | undefined {
  let value: string | undefined
  for (const sc of setCookies) {
    const pair = sc.split(';', 1)[0] as string
    const eq = pair.indexOf('=')
    if (eq !== -1 && pair.slice(0, eq).trim() === name) value = pair.slice(eq + 1).trim()
  }
  return value === '' ? undefined : value
}
