import type { IncomingHttpHeaders } from 'node:http'
import { MalformedLogin } from './identity.js'

/**
 * A login body's charset. The gateway reads bodies as UTF-8, and so do
 * browsers' forms and nearly every client; but Django decodes a form body by
 * the charset its Content-Type names (`charset=utf-16-le`, `utf-7`: bytes
 * the gateway reads as carol are bob to Django), Express's JSON parser
 * honours UTF-16, and Werkzeug a multipart part's own charset. So a login
 * whose charset is not UTF-8 (or its subset ASCII) is read only when nothing
 * in it can read differently: a charset that keeps ASCII as ASCII (ISO 8859,
 * Windows-125x), over a body of ASCII bytes with no percent-escape beyond
 * ASCII. Anything else is refused (MalformedLogin).
 */
const UTF8 = /^(?:utf-?8|us-ascii|ascii)$/i
const KEEPS_ASCII = /^(?:iso-?8859-\d{1,2}|iso_8859-\d{1,2}|latin-?1|l1|windows-125\d|cp125\d)$/i

/** Throws unless `charset` is UTF-8 (where no ASCII-only body excuses it: a multipart part). */
export function checkCharset (charset: string, what: string): void {
  if (!UTF8.test(charset)) throw new MalformedLogin(`${what} is in ${JSON.stringify(charset.slice(0, 40))}, not UTF-8`)
}

/** Throws unless every charset the Content-Type names reads `body` as UTF-8 would (module doc). */
export function checkBodyCharset (headers: IncomingHttpHeaders, bodies: ReadonlyArray<Buffer | undefined>): void {
  const type = headers['content-type']
  if (type === undefined || !/charset/i.test(type)) return
  // Every `charset=` anywhere: parsers that disagree on where parameters start still find one of these.
  for (const m of type.matchAll(/charset\s*=\s*"?([^";,\s]*)/gi)) {
    const charset = m[1] ?? ''
    if (UTF8.test(charset)) continue
    if (KEEPS_ASCII.test(charset) && bodies.every((b) => b === undefined || asciiOnly(b))) continue
    throw new MalformedLogin(`the login body is in ${JSON.stringify(charset.slice(0, 40))}, not UTF-8`)
  }
}

/** Whether a body is ASCII and percent-escapes nothing beyond it (%80-%FF). */
function asciiOnly (body: Buffer): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as number
    if (c >= 0x80) return false
    if (c === 0x25 && i + 2 < body.length && '89abcdefABCDEF'.includes(String.fromCharCode(body[i + 1] as number)) && isHex(body[i + 2] as number)) return false
  }
  return true
}

function isHex (c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
}
