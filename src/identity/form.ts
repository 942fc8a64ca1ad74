import { isJsonType, mediaType, type IdentityStrategy, type LoginRequest } from './identity.js'
import { multipartField } from './multipart.js'
import { bodyText } from './body-text.js'

/**
 * `user: { form: username }` — the user named in a login form.
 *
 * Frameworks read a form field from more places than the urlencoded body:
 * PHP's $_REQUEST and Rails' params merge the query string, Rails and Express
 * also accept JSON and multipart bodies. A client that put the name where the
 * gateway did not look would log in uncounted, so every place an app might
 * read the field is read, and all values found are returned.
 */
export function formStrategy (field: string): IdentityStrategy {
  return {
    needsBody: true,
    describe: `form field "${field}"`,
    candidates (req: LoginRequest): string[] {
      const values = new URLSearchParams(req.query).getAll(field)
      const body = req.body
      if (body === undefined || body.length === 0) return values
      const type = mediaType(req.headers)
      if (type === 'multipart/form-data') {
        values.push(...multipartField(body, req.headers['content-type'] ?? '', field))
      } else if (isJsonType(type)) {
        const parsed = parseJson(body)
        const v = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[field] : undefined
        if (typeof v === 'string' || typeof v === 'number') values.push(String(v))
      } else {
        // urlencoded, and any body sent without a type (browsers always send one; scripts may not).
        values.push(...new URLSearchParams(bodyText(body)).getAll(field))
      }
      return values
    }
  }
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(bodyText(body))
  } catch {
    return undefined
  }
}
