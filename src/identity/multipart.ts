const MAX_PART_HEADER_BYTES = 8 * 1024

/**
 * The values of one field of a `multipart/form-data` body (RFC 7578), under
 * every name read as it (field-names.ts: PHP reads a part's name as a form
 * field's). Login
 * forms are small and the body is already bounded by `maxBodyBytes`, so a
 * plain scan is enough. Part headers are read line by line (each bounded),
 * never with a pattern that could backtrack; the field name may be quoted or
 * a bare token, as servers accept both. File parts are never the user name.
 */
export function multipartField (body: Buffer, contentType: string, named: (name: string) => boolean): string[] {
  const m = /;\s*boundary=(?:"([^"]{1,200})"|([^\s;]{1,200}))/i.exec(contentType)
  const boundary = m?.[1] ?? m?.[2]
  if (boundary === undefined) return []
  const delimiter = Buffer.from(`--${boundary}`)
  const values: string[] = []
  let start = body.indexOf(delimiter)
  while (start !== -1) {
    const partStart = start + delimiter.length
    const next = body.indexOf(delimiter, partStart)
    if (next === -1) break
    const part = body.subarray(partStart, next)
    const split = part.indexOf('\r\n\r\n')
    if (split !== -1 && split <= MAX_PART_HEADER_BYTES) {
      const disposition = dispositionOf(part.subarray(0, split).toString('latin1'))
      if (disposition !== undefined && named(disposition.name) && !disposition.isFile) {
        // The part's content ends before the CRLF that precedes the next delimiter.
        let content = part.subarray(split + 4)
        if (content.length >= 2 && content[content.length - 2] === 13 && content[content.length - 1] === 10) {
          content = content.subarray(0, content.length - 2)
        }
        values.push(content.toString('utf8'))
      }
    }
    start = next
  }
  return values
}

function dispositionOf (head: string): { name: string, isFile: boolean } | undefined {
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon === -1 || line.slice(0, colon).trim().toLowerCase() !== 'content-disposition') continue
    let name: string | undefined
    let isFile = false
    for (const param of line.slice(colon + 1).split(';').slice(1)) {
      const eq = param.indexOf('=')
      if (eq === -1) continue
      const key = param.slice(0, eq).trim().toLowerCase()
      let value = param.slice(eq + 1).trim()
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
      if (key === 'name') name = value
      if (key === 'filename' || key === 'filename*') isFile = true
    }
    return name === undefined ? undefined : { name, isFile }
  }
  return undefined
}
