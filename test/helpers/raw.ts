import { connect } from 'node:net'

export interface RawAnswer {
  status: number
  head: string
  /** The body, de-chunked. */
  body: string
}

/**
 * Sends bytes exactly as written (odd paths, repeated headers, syntax no HTTP
 * client library would produce) and reads one answer: up to its
 * Content-Length, the end of its chunks, or the connection's close. A string
 * is sent as UTF-8; a Buffer as it is (bytes no encoding of text gives, such
 * as a lone 0x85).
 */
export async function rawRequest (base: string, request: string | Buffer, timeoutMs = 10_000): Promise<RawAnswer> {
  const url = new URL(base)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let text = ''
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('no answer in time')) }, timeoutMs)
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      const split = text.indexOf('\r\n\r\n')
      const head = split === -1 ? text : text.slice(0, split)
      let body = split === -1 ? '' : text.slice(split + 4)
      if (/^transfer-encoding:\s*chunked/im.test(head)) body = dechunk(body)
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0), head, body })
    }
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1')
      const split = text.indexOf('\r\n\r\n')
      if (split === -1) return
      const head = text.slice(0, split)
      const length = /^content-length:\s*(\d+)/im.exec(head)?.[1]
      if (length !== undefined && text.length - split - 4 >= Number(length)) done()
      else if (/^transfer-encoding:\s*chunked/im.test(head) && text.endsWith('\r\n0\r\n\r\n')) done()
    })
    socket.on('error', (err) => { clearTimeout(timer); reject(err) })
    socket.on('close', done)
    socket.write(request)
  })
}

export function dechunk (body: string): string {
  let out = ''
  let rest = body
  for (;;) {
    const eol = rest.indexOf('\r\n')
    if (eol === -1) return out
    const size = parseInt(rest.slice(0, eol), 16)
    if (!(size > 0)) return out
    out += rest.slice(eol + 2, eol + 2 + size)
    rest = rest.slice(eol + 4 + size)
  }
}
