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
          const v = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[field] : undefined
          if (typeof v === 'string' || typeof v === 'number') values.push(String(v))
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

function parseJson (text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}
