import { isJsonType, mediaType, type RequestIdentity, type LoginRequest } from './identity.js'
import { multipartField } from './multipart.js'
import { bodyReadings } from './body-text.js'

/**
 * `user: { form: username }` — the user named in a login form.
 *
 * Frameworks read a form field from more places than the urlencoded body:
 * PHP's $_REQUEST and Rails' params merge the query string, Rails and Express
 * also accept JSON and multipart bodies, some inflate compressed bodies and
 * some do not. A client that put the name where the gateway did not look
 * would log in uncounted (or, worse, counted as someone else), so every
 * reading an app might make is made, and all values found are returned: if
 * they disagree, the login is refused as ambiguous.
 */
export function formStrategy (field: string): RequestIdentity {
  const nested = bracketPath(field)
  return {
    phase: 'request',
    needsBody: true,
    describe: `form field "${field}"`,
    candidates (req: LoginRequest): string[] {
      const values = new URLSearchParams(req.query).getAll(field)
      const type = mediaType(req.headers)
      for (const text of bodyReadings(req.body, req.decodedBody)) {
        values.push(...new URLSearchParams(text).getAll(field))
        if (isJsonType(type) || text.trimStart().startsWith('{')) {
          const parsed = parseJson(text)
          pushName(values, member(parsed, field))
          // Rails' params read `user[email]` from JSON as {"user":{"email":…}} (Devise's JSON sign-in), as an Express app reads req.body.user.email.
          if (nested !== undefined) pushName(values, nested.reduce<unknown>((at, key) => member(at, key), parsed))
        }
      }
      if (type === 'multipart/form-data') {
        for (const b of [req.body, req.decodedBody]) {
          if (b !== undefined) values.push(...multipartField(b, req.headers['content-type'] ?? '', field))
        }
      }
      return values
    }
  }
}

/**
 * The keys of a bracketed field name, `user[email]` → ['user', 'email'] (as
 * Rack and qs nest it); undefined for a plain name, or a name with empty
 * brackets (`user[]`: an array, which names nobody).
 */
function bracketPath (field: string): string[] | undefined {
  const m = /^([^[\]]+)((?:\[[^[\]]+\])+)$/.exec(field)
  if (m === null) return undefined
  return [m[1] as string, ...(m[2] as string).slice(1, -1).split('][')]
}

/** An object's own member (never an array's, nor an inherited one such as `__proto__`). */
function member (value: unknown, key: string): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined
  return (value as Record<string, unknown>)[key]
}

/** A name a JSON value gives: a string or a number (anything else names nobody). */
function pushName (values: string[], v: unknown): void {
  if (typeof v === 'string' || typeof v === 'number') values.push(String(v))
}

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
