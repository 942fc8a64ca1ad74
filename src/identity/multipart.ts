import { MalformedLogin } from './identity.js'
import { parseParams } from './header-params.js'
import { checkCharset } from './charset.js'

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
 *   2046's characters, without ',' '=' or space, where parsers part ways),
 *   and at most a UTF-8 `charset`;
 * - the body starts with the first delimiter; every delimiter starts a line
 *   ended by CRLF; the boundary occurs nowhere else; the close delimiter
 *   ends the body (a CRLF after it at most);
 * - each part's header lines end in CRLF, none folded, none with a bare CR
 *   or LF; only `Content-Disposition` (once: `form-data`, one `name`, at
 *   most one `filename`, no `name*` or `filename*`) and `Content-Type` (at
 *   most once, its charset UTF-8); parameters quoted without backslashes.
 */
export function multipartBoundary (contentType: string): string | undefined {
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
  const charset = params.get('charset')
  if (charset !== undefined) checkCharset(charset, 'the body')
  const boundary = params.get('boundary')
  if (boundary === undefined || !/^[0-9A-Za-z'()+_\-./:?]{1,70}$/.test(boundary) || lower.indexOf('boundary') !== lower.lastIndexOf('boundary')) {
    throw new MalformedLogin('a multipart login needs one boundary of letters, digits and \'()+_-./:?')
  }
  return boundary
}

/**
 * The values of one field of a strictly formed `multipart/form-data` body
 * (RFC 7578; see multipartBoundary), under every name read as it
 * (field-names.ts: PHP reads a part's name as a form field's). A part with a
 * `filename` counts too: Django reads `filename=""` as a field, and no login
 * uploads a file under the user's field. Linear in the body: each search
 * starts where the last ended.
 */
export function multipartField (body: Buffer, boundary: string, named: (name: string) => boolean): string[] {
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
    const name = partName(head.toString('utf8'))
    if (named(name)) values.push(part.subarray(split + 4).toString('utf8'))
    at = next
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The field a part's header names (each line ended by CRLF: `head` ends with one). */
function partName (head: string): string {
  let disposition: string | undefined
  let type: string | undefined
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
    else throw new MalformedLogin(`a multipart part has a header ${lower === 'content-disposition' || lower === 'content-type' ? 'twice' : `"${key}"`}`)
  }
  if (type !== undefined) {
    const media = /^[ \t]*[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(type)
    const params = media === null ? undefined : parseParams(type, media[0].length)
    if (params === undefined) throw new MalformedLogin('a multipart part\'s Content-Type is not well formed')
    const charset = params.get('charset')
    // Werkzeug decodes a part by its own charset.
    if (charset !== undefined) checkCharset(charset, 'a multipart part')
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
  return name
}
