import type { RequestIdentity, LoginRequest } from './identity.js'
import { multipartBoundary, multipartField } from './multipart.js'
import { checkedNames, hasBody, loginBodyReadings, NOT_JSON } from './body-text.js'
import { forEachField } from './urlencoded.js'
import { readsAs, type FieldNameTest } from './field-names.js'
import { resolveInRequest } from './json.js'

/**
 * `user: { form: username }` — the user named in a login form.
 *
 * Frameworks read a form field from more places than the urlencoded body:
 * PHP's $_REQUEST and Rails' params merge the query string, Rails and Express
 * also accept JSON and multipart bodies, some inflate compressed bodies and
 * some do not. A client that put the name where the gateway did not look
 * would log in uncounted (or, worse, counted as someone else), so every
 * reading an app might make is made, and all values found are returned: if
 * they disagree, the login is refused as ambiguous. That includes every
 * spelling of the field's name that some framework reads as it
 * (field-names.ts: `%20username` is `username` to PHP, `[username]` to
 * Rack 2 and qs, `USERNAME` to ASP.NET Core).
 */
export function formStrategy (field: string): RequestIdentity {
  const nested = bracketPath(field)
  const named = readsAs(field)
  return {
    phase: 'request',
    needsBody: true,
    describe: `form field "${field}"`,
    candidates (req: LoginRequest): string[] {
      const values: string[] = []
      urlencodedValues(values, req.query, named)
      // Whatever the Content-Type says: apps sniff (a JSON body sent as text/plain is still read as JSON by some).
      for (const { text, json } of loginBodyReadings(req)) {
        urlencodedValues(values, text, named)
        if (json === NOT_JSON) continue
        for (const v of resolveInRequest(json, [field], false)) pushName(values, v)
        // Rails' params read `user[email]` from JSON as {"user":{"email":…}} (Devise's JSON sign-in), as an Express app reads req.body.user.email.
        if (nested !== undefined) for (const v of resolveInRequest(json, nested, false)) pushName(values, v)
      }
      const multipart = !hasBody(req) ? undefined : multipartBoundary(req.headers['content-type'] ?? '')
      // The body as the app reads it: inflated (its raw bytes, compressed, are no multipart body), or as sent where it cannot be.
      const plain = req.decodedBody ?? req.body
      if (multipart !== undefined && plain !== undefined) values.push(...multipartField(plain, multipart, named))
      return checkedNames(req, values)
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

/**
 * The values of every field of a urlencoded text whose name is read as the
 * login's field. Rack 2 splits a query string on ';' as well as '&' (Rails
 * before Rack 3: `?username=carol;username=bob` is bob), and so did Python's
 * parse_qsl and Django's QueryDict, bodies too, before their 2021 fixes: a
 * text with a ';' is read both ways. A browser percent-encodes a ';' in a
 * value, so only a hand-made request is read two ways, and then refused as
 * ambiguous if the two disagree.
 */
function urlencodedValues (values: string[], text: string, named: FieldNameTest): void {
  if (text === '') return
  const visit = (name: string, value: () => string): void => { if (named(name)) values.push(value()) }
  forEachField(text, visit)
  if (text.includes(';')) forEachField(text.replaceAll(';', '&'), visit)
}

/** A name a JSON value gives: a string or a number (anything else names nobody). */
function pushName (values: string[], v: unknown): void {
  if (typeof v === 'string' || typeof v === 'number') values.push(String(v))
}
