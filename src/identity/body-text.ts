import { brotliDecompressSync, gunzipSync, inflateSync, inflateRawSync } from 'node:zlib'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * The login body as the app will read it. Frameworks inflate compressed
 * request bodies (Express's body-parser does by default), so a client could
 * otherwise hide the user name from the gateway by compressing it. The
 * inflated size is bounded like the body itself. Returns undefined for an
 * encoding the gateway cannot read: the user is then not identified.
 */
export function decodedBody (body: Buffer, headers: IncomingHttpHeaders, maxBytes: number): Buffer | undefined {
  const header = headers['content-encoding']
  if (header === undefined || header.trim() === '' || header.trim().toLowerCase() === 'identity') return body
  let out = body
  // Encodings are listed in the order they were applied; undo them in reverse.
  const codings = header.toLowerCase().split(',').map((c) => c.trim()).filter((c) => c !== '' && c !== 'identity').reverse()
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
