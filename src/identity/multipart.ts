/**
 * The values of one field of a `multipart/form-data` body (RFC 7578). Login
 * forms are small and the body is already bounded by `maxBodyBytes`, so a
 * plain scan is enough; files are never fields we look for.
 */
export function multipartField (body: Buffer, contentType: string, field: string): string[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType)
  const boundary = (m?.[1] ?? m?.[2])?.trim()
  if (boundary === undefined || boundary === '') return []
  const delimiter = Buffer.from(`--${boundary}`)
  const values: string[] = []
  let start = body.indexOf(delimiter)
  while (start !== -1) {
    const partStart = start + delimiter.length
    const next = body.indexOf(delimiter, partStart)
    if (next === -1) break
    const part = body.subarray(partStart, next)
    const split = part.indexOf('\r\n\r\n')
    if (split !== -1) {
      const head = part.subarray(0, split).toString('latin1')
      const name = /content-disposition:[^\r\n]*;\s*name="([^"]*)"/i.exec(head)?.[1]
      if (name === field && !/filename=/i.test(head)) {
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
