import { brotliDecompressSync, gunzipSync, inflateSync, inflateRawSync } from 'node:zlib'
import type { IncomingHttpHeaders } from 'node:http'

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
