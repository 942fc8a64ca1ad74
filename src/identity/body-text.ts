import { brotliDecompressSync, gunzipSync, inflateSync, inflateRawSync } from 'node:zlib'
import type { IncomingHttpHeaders } from 'node:http'
import { MalformedLogin, type LoginRequest } from './identity.js'
import { isUtf8 } from 'node:buffer'
import { bodyNeedsAscii } from './charset.js'

/**
 * The login body as the app will read it. Frameworks inflate compressed
 * request bodies (Express's body-parser does by default), so a client could
 * otherwise hide the user name from the gateway by compressing it. The
 * inflated size is bounded like the body itself. Returns undefined for an
 * encoding the gateway cannot read: the user is then not identified.
 */
const MAX_ENCODINGS = 2

export function decodedBody (body: Buffer, headers: IncomingHttpHeaders, maxBytes: number): Buffer | undefined {
  const header = headers['content-encoding']
  if (header === undefined || header.trim() === '' || header.trim().toLowerCase() === 'identity') return body
  let out = body
  // Encodings are listed in the order they were applied; undo them in reverse.
  const codings = header.toLowerCase().split(',').map((c) => c.trim()).filter((c) => c !== '' && c !== 'identity').reverse()
  // Real clients apply one encoding; stacking hundreds would only cost CPU.
  if (codings.length > MAX_ENCODINGS) return undefined
  try {
    for (const coding of codings) {
      const opts = { maxOutputLength: maxBytes }
      if (coding === 'gzip' || coding === 'x-gzip') out = gunzipSync(out, opts)
      else if (coding === 'deflate') out = inflateOrRaw(out, opts)
      else if (coding === 'br') out = brotliDecompressSync(out, opts)
      else return undefined
    }
  } catch {
    return undefined
  }
  return out
}

// "deflate" is zlib-wrapped by the standard, raw in some clients' practice.
function inflateOrRaw (data: Buffer, opts: { maxOutputLength: number }): Buffer {
  try {
    return inflateSync(data, opts)
  } catch {
    return inflateRawSync(data, opts)
  }
}

/** Body bytes as text, honouring a byte-order mark (UTF-8, UTF-16 LE/BE), as lenient JSON readers do. */
export function bodyText (body: Buffer): string {
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) return body.subarray(3).toString('utf8')
  if (body.length >= 2 && body[0] === 0xff && body[1] === 0xfe) return body.subarray(2).toString('utf16le')
  if (body.length >= 2 && body[0] === 0xfe && body[1] === 0xff) {
    const swapped = Buffer.from(body.subarray(2))
    return swapped.swap16 !== undefined && swapped.length % 2 === 0 ? swapped.swap16().toString('utf16le') : ''
  }
  return body.toString('utf8')
}

/**
 * Every way an app might read the body's text: the bytes as sent and as
 * inflated, each as plain UTF-8 and with a byte-order mark honoured. A
 * strategy takes the user from all of them; if they disagree, the request is
 * ambiguous (a client could otherwise craft a body that one reading names
 * bob and another alice, and be counted as the wrong one).
 */
export function bodyReadings (raw: Buffer | undefined, decoded: Buffer | undefined): string[] {
  const texts = new Set<string>()
  for (const b of [raw, decoded]) {
    if (b === undefined || b.length === 0) continue
    texts.add(b.toString('utf8'))
    texts.add(bodyText(b))
  }
  return [...texts]
}

/** Whether a login request has a body to read (a GET login, an empty POST has none, whatever its headers say of one). */
export function hasBody (req: LoginRequest): boolean {
  return (req.body?.length ?? 0) > 0 || (req.decodedBody?.length ?? 0) > 0
}

/** One reading of a login body: its text, and the JSON value it is (NOT_JSON when it is none). */
export interface BodyReading {
  text: string
  json: unknown
}

export const NOT_JSON = Symbol('not JSON')

/**
 * The readings of a login body (bodyReadings), each with its JSON value,
 * after refusing (MalformedLogin) a body that some app reads in a way the
 * gateway does not:
 * - bytes that are not UTF-8;
 * - NUL bytes outside a multipart body: UTF-16 or UTF-32 without a
 *   byte-order mark, which Python's json.loads and Express's JSON parser
 *   (with a charset) decode, or UTF-32 with one;
 * - a body that starts as a JSON object but does not parse: Python's
 *   json.loads takes NaN and Infinity, and the gateway, which could not,
 *   would read the body as a form (a field inside a JSON string).
 */
export function loginBodyReadings (req: LoginRequest): BodyReading[] {
  // No body (a GET login, an empty POST): nothing to read, whatever the headers say of it.
  if (!hasBody(req)) return []
  // The text apps read: the inflated body (a compressed one holds NULs of its own), or the raw one where it cannot be inflated.
  const b = req.decodedBody ?? req.body
  if (b !== undefined && !/^[ \t]*multipart/i.test(req.headers['content-type'] ?? '')) {
    const utf32 = b.length >= 4 && ((b[0] === 0xff && b[1] === 0xfe && b[2] === 0 && b[3] === 0) || (b[0] === 0 && b[1] === 0 && b[2] === 0xfe && b[3] === 0xff))
    const utf16 = b.length >= 2 && ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff))
    if (utf32 || (!utf16 && b.includes(0))) throw new MalformedLogin('the login body holds NUL bytes (UTF-16 or UTF-32 without a byte-order mark?)')
    // Bytes that are no UTF-8 beside percent-escapes are read apart by the gateway (U+FFFD) and together by PHP and Rack (b\xC3%B6b is böb).
    if (!utf16 && !isUtf8(b)) throw new MalformedLogin('the login body is not UTF-8')
  }
  return bodyReadings(req.body, req.decodedBody).map((text) => {
    const json = parseJson(text)
    if (json === NOT_JSON && /^[ \t\r\n]*\{/.test(text)) throw new MalformedLogin('the login body starts as a JSON object but is not JSON')
    return { text, json }
  })
}

function parseJson (text: string): unknown {
  // Only what could name someone (an object, an array, a string, a number): a
  // form body would only throw, and a thrown error costs microseconds per login.
  if (!/^[ \t\r\n]*[{["\-0-9]/.test(text)) return NOT_JSON
  try {
    return JSON.parse(text)
  } catch {
    return NOT_JSON
  }
}

/**
 * The names a body strategy read, after refusing one beyond ASCII where the
 * Content-Type names a Latin-1-like charset (charset.ts: the app reads it
 * another way), or any other charset but UTF-8.
 */
export function checkedNames (req: LoginRequest, values: string[]): string[] {
  if (hasBody(req) && bodyNeedsAscii(req.headers) && values.some((v) => /[^\x00-\x7f]/.test(v))) {
    throw new MalformedLogin('a user name beyond ASCII in a charset other than UTF-8')
  }
  return values
}
