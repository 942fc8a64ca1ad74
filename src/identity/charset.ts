import type { IncomingHttpHeaders } from 'node:http'
import { MalformedLogin } from './identity.js'
import { mediaTypeParams } from './header-params.js'

/**
 * A login body's charset. The gateway reads bodies as UTF-8, and so do
 * browsers' forms and nearly every client; but Django decodes a form body by
 * the charset its Content-Type names (`charset=utf-16-le`, `utf-7`: bytes
 * the gateway reads as carol are bob to Django), Express's JSON parser
 * honours UTF-16, and Werkzeug a multipart part's own charset. So a login
 * whose charset is not UTF-8 (or its subset ASCII) is read only when its
 * user cannot read differently: a charset that keeps ASCII as ASCII (ISO
 * 8859, Windows-125x, which Apache HttpClient sends), and a user's name in
 * ASCII. Anything else is refused (MalformedLogin).
 */
const UTF8 = /^(?:utf-?8|us-ascii|ascii)$/i
const KEEPS_ASCII = /^(?:iso-?8859-\d{1,2}|iso_8859-\d{1,2}|latin-?1|l1|windows-125\d|cp125\d)$/i

/**
 * Whether a charset reads only ASCII as UTF-8 does (a Latin-1-like one: the
 * user's name must then be ASCII); false for none or UTF-8; throws for any
 * other (`what` says whose charset, for the message).
 */
export function charsetNeedsAscii (charset: string | undefined, what: string): boolean {
  if (charset === undefined || UTF8.test(charset)) return false
  if (KEEPS_ASCII.test(charset)) return true
  throw new MalformedLogin(`${what} is in ${JSON.stringify(charset.slice(0, 40))}, not UTF-8`)
}

/**
 * Whether the charset a request's Content-Type names needs the user's name to
 * be ASCII (charsetNeedsAscii). Its parameters are read strictly: one Django
 * finds and the gateway would not (`charset\x85=utf-7`: Python strips U+0085
 * as white space) must not hide a charset.
 */
export function bodyNeedsAscii (headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type']
  if (type === undefined || !/charset/i.test(type)) return false
  const params = mediaTypeParams(type)
  if (params === undefined || !params.has('charset')) throw new MalformedLogin('the Content-Type of the login names a charset in a way apps read differently')
  return charsetNeedsAscii(params.get('charset'), 'the login body')
}
