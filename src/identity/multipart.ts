import { MalformedLogin } from './identity.js'
import { mediaTypeParams, parseParams } from './header-params.js'
import { charsetNeedsAscii } from './charset.js'

const MAX_PART_HEADER_BYTES = 8 * 1024
const CRLF = Buffer.from('\r\n')
const HEADER_END = Buffer.from('\r\n\r\n')

/**
 * Frameworks agree on a multipart body only while it is formed as browsers
 * form it, and each forgives a different mistake: PHP finds a delimiter
 * after a bare LF and the boundary at the first "boundary" in the header,
 * even inside another parameter; Rack takes the last `boundary=` and parses
 * `multipart/mixed` too; Django and Werkzeug unfold a folded part header,
 * honour a part's `Content-Transfer-Encoding` or charset, and read a part
 * with `filename=""` as a field. A login whose body one of them reads as bob
 * and the gateway as carol would be counted as carol, so a multipart login is
 * read only when it is formed strictly (what every browser, curl and the
 * common HTTP libraries send), and refused otherwise (MalformedLogin):
 *
 * - Content-Type `multipart/form-data` with one `boundary` (1-70 of RFC
 *   2046's characters, without ',', '=', a single quote or space, where parsers part
 *   ways; PHP's first "boundary" its own name, so WebKit's
 *   `----WebKitFormBoundary…` is fine), and at most a `charset`;
 * - the body starts with the first delimiter; every delimiter starts a line
 *   ended by CRLF; the boundary occurs nowhere else; the close delimiter
 *   ends the body (a CRLF after it at most);
 * - each part's header lines end in CRLF, none folded, none with a bare CR
 *   or LF; only `Content-Disposition` (once: `form-data`, one `name` with no
 *   white space at either end, at most one `filename`, no `name*` or
 *   `filename*`), `Content-Type` (at most once, only a `charset`),
 *   `Content-Length` (OkHttp sends it; nobody reads it) and
 *   `Content-Transfer-Encoding` of 7bit, 8bit or binary (Retrofit, Symfony);
 *   parameters as header-params.ts reads them;
 * - a charset other than UTF-8 only where it keeps ASCII as ASCII, and the
 *   user's name then in ASCII (charset.ts).
 */
export function multipartBoundary (contentType: string): { boundary: string, asciiOnly: boolean } | undefined {
  const lower = contentType.toLowerCase()
  // Not multipart to any framework (they look at the start of the header; PHP at a "boundary" anywhere).
  if (!lower.trimStart().startsWith('multipart') && !lower.includes('boundary')) return undefined
  const m = /^[ \t]*multipart\/form-data(?=[ \t;]|$)/i.exec(contentType)
  if (m === null) throw new MalformedLogin('a multipart login body must be multipart/form-data')
  const params = parseParams(contentType, m[0].length)
  if (params === undefined) throw new MalformedLogin('the Content-Type of a multipart login is not well formed')
  for (const key of params.keys()) {
    if (key !== 'boundary' && key !== 'charset') throw new MalformedLogin(`a multipart login's Content-Type has a parameter "${key}"`)
  }
  const boundary = params.get('boundary')
  // One `boundary=` (Rack takes the last), and the first "boundary" PHP finds (case-sensitive first, then in any case) is that parameter's own name.
  const at = lower.indexOf('boundary=')
  const phpFinds = contentType.includes('boundary') ? contentType.indexOf('boundary') : at
  if (boundary === undefined || !/^[0-9A-Za-z()+_\-./:?]{1,70}$/.test(boundary) || at !== lower.lastIndexOf('boundary=') || phpFinds !== at) {
    throw new MalformedLogin('a multipart login needs one boundary of letters, digits and ()+_-./:?')
  }
  return { boundary, asciiOnly: charsetNeedsAscii(params.get('charset'), 'the body') }
}

/**
 * The values of one field of a strictly formed `multipart/form-data` body
 * (RFC 7578; see multipartBoundary), under every name read as it
 * (field-names.ts: PHP reads a part's name as a form field's). A part with a
 * `filename` counts too: Django reads `filename=""` as a field, and no login
 * uploads a file under the user's field. Linear in the body: each search
 * starts where the last ended.
 */
export function multipartField (body: Buffer, { boundary, asciiOnly }: { boundary: string, asciiOnly: boolean }, named: (name: string) => boolean): string[] {
  const delimiter = Buffer.from(`--${boundary}`)
  if (body.indexOf(delimiter) !== 0) throw new MalformedLogin('a multipart login body must start with its boundary')
  const values: string[] = []
  let at = 0
  for (;;) {
    const afterDelimiter = at + delimiter.length
    if (body[afterDelimiter] === 45 && body[afterDelimiter + 1] === 45) {
      // The close delimiter: the body ends here, or after one CRLF.
      const rest = body.length - (afterDelimiter + 2)
      if (rest === 0 || (rest === 2 && body.indexOf(CRLF, afterDelimiter + 2) === afterDelimiter + 2)) return values
      throw new MalformedLogin('a multipart login body goes on after its close delimiter')
    }
    if (body.indexOf(CRLF, afterDelimiter) !== afterDelimiter) throw new MalformedLogin('a multipart delimiter must end its line')
    const partStart = afterDelimiter + 2
    const next = body.indexOf(delimiter, partStart)
    if (next === -1) throw new MalformedLogin('a multipart login body has no close delimiter')
    // Every occurrence of the boundary is a delimiter at the start of a line (PHP would take one after a bare LF).
    if (next < partStart + 2 || body[next - 2] !== 13 || body[next - 1] !== 10) throw new MalformedLogin('a multipart boundary occurs inside a part')
    const part = body.subarray(partStart, next - 2)
    const split = part.indexOf(HEADER_END)
    const head = split === -1 ? undefined : part.subarray(0, split + 2)
    if (head === undefined || head.length > MAX_PART_HEADER_BYTES) throw new MalformedLogin('a multipart part has no header that ends')
    const { name, latin } = partHeader(head.toString('utf8'))
    if (named(name)) {
      const value = part.subarray(split + 4)
      // Read by a Latin-1-like charset (the body's or the part's), a name beyond ASCII is another name.
      if ((asciiOnly || latin) && value.some((c) => c >= 0x80)) throw new MalformedLogin('a user name beyond ASCII in a charset other than UTF-8')
      values.push(value.toString('utf8'))
    }
    at = next
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The field a part's header names, and whether its charset reads only ASCII as UTF-8 does (each line ended by CRLF: `head` ends with one). */
function partHeader (head: string): { name: string, latin: boolean } {
  let disposition: string | undefined
  let type: string | undefined
  let length = false
  let encoding = false
  let from = 0
  while (from < head.length) {
    const end = head.indexOf('\r\n', from)
    const line = head.slice(from, end)
    from = end + 2
    if (line.includes('\r') || line.includes('\n')) throw new MalformedLogin('a multipart part header has a bare CR or LF')
    const colon = line.indexOf(':')
    const key = colon === -1 ? '' : line.slice(0, colon)
    // A line that starts with a space folds the one before it (Django and Werkzeug unfold; others do not).
    if (!HEADER_NAME.test(key)) throw new MalformedLogin('a multipart part header line is not "Name: value"')
    const lower = key.toLowerCase()
    const value = line.slice(colon + 1)
    if (lower === 'content-disposition' && disposition === undefined) disposition = value
    else if (lower === 'content-type' && type === undefined) type = value
    // OkHttp, Guzzle and old aiohttp send a part's length (nobody reads it); Retrofit and Symfony an identity transfer encoding (base64 Django would decode).
    else if (lower === 'content-length' && !length && /^[ \t]*[0-9]{1,10}[ \t]*$/.test(value)) length = true
    else if (lower === 'content-transfer-encoding' && !encoding && /^[ \t]*(?:7bit|8bit|binary)[ \t]*$/i.test(value)) encoding = true
    else throw new MalformedLogin(`a multipart part has a header ${lower === 'content-disposition' || lower === 'content-type' ? 'twice' : `"${key}"`}`)
  }
  let latin = false
  if (type !== undefined) {
    const params = mediaTypeParams(type)
    // Only a charset: Rack looks for `name=` after "Content-Disposition:" anywhere in the part's header, another header's parameters included.
    if (params === undefined || [...params.keys()].some((k) => k !== 'charset')) throw new MalformedLogin('a multipart part\'s Content-Type is not well formed')
    // Werkzeug decodes a part by its own charset.
    latin = charsetNeedsAscii(params.get('charset'), 'a multipart part')
  }
  const formData = disposition === undefined ? null : /^[ \t]*form-data(?=[ \t;]|$)/i.exec(disposition)
  if (disposition === undefined || formData === null) throw new MalformedLogin('a multipart part needs Content-Disposition: form-data')
  const params = parseParams(disposition, formData[0].length)
  if (params === undefined) throw new MalformedLogin('a multipart part\'s Content-Disposition is not well formed')
  for (const key of params.keys()) {
    if (key !== 'name' && key !== 'filename') throw new MalformedLogin(`a multipart part's Content-Disposition has a parameter "${key}"`)
  }
  const name = params.get('name')
  if (name === undefined) throw new MalformedLogin('a multipart part has no name')
  // Django strips a part's name (Python's whitespace, \x1c-\x1f and U+0085 among it): `username ` is username to it alone.
  if (/^[\s\x1c-\x1f\x85]|[\s\x1c-\x1f\x85]$/.test(name)) throw new MalformedLogin('a multipart part\'s name starts or ends with white space')
  return { name, latin }
}
