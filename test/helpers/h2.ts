import { connect, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2'
import type { Test } from 'tap'

export interface H2Answer {
  status: number
  headers: IncomingHttpHeaders & IncomingHttpStatusHeader
  setCookies: string[]
  text: string
  json: () => unknown
  /** The request's stream (e.g. to see that the server reset it: `closed`, `rstCode`). */
  stream: ClientHttp2Stream
}

export interface H2RequestOptions {
  method?: string
  /** More header fields; a list value is sent as that many fields of one name (e.g. `cookie` crumbs, RFC 9113 §8.2.3). */
  headers?: OutgoingHttpHeaders
  /** Sent in DATA frames, without Content-Length unless `headers` has one. */
  body?: string | Buffer
}

/**
 * An HTTP/2 client (node:http2) on one connection: what a browser does with
 * `listen.http2` (ALPN "h2"), closed at teardown.
 */
export class H2Client {
  readonly session: ClientHttp2Session
  private constructor (session: ClientHttp2Session) { this.session = session }

  static async open (t: Test, base: string, ca: Buffer): Promise<H2Client> {
    const session = connect(base, { ca })
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => { resolve() })
      session.once('error', reject)
    })
    // A session the gateway closes (GOAWAY, a graceful stop) must not fail the test by itself.
    session.on('error', () => {})
    t.teardown(() => { session.destroy() })
    return new H2Client(session)
  }

  /** The protocol ALPN chose for this connection. */
  get protocol (): string | false | undefined {
    return this.session.alpnProtocol
  }

  async send (path: string, opts: H2RequestOptions = {}): Promise<H2Answer> {
    const body = opts.body
    const stream = this.session.request({ ':method': opts.method ?? (body === undefined ? 'GET' : 'POST'), ':path': path, ...opts.headers }, { endStream: body === undefined })
    // A body the server stops reading (it answered first) may never be written out: not an error here.
    stream.on('error', () => {})
    if (body !== undefined) stream.end(body)
    // A stream cut by its connection closes with RST_STREAM CANCEL, and Node emits no 'error' for that: 'close' says it.
    const cut = (): Error => new Error(`stream closed (RST_STREAM ${stream.rstCode ?? '?'})`)
    const headers = await new Promise<IncomingHttpHeaders & IncomingHttpStatusHeader>((resolve, reject) => {
      stream.once('response', resolve)
      stream.once('error', reject)
      stream.once('close', () => { reject(cut()) })
    })
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => { chunks.push(c) })
    await new Promise<void>((resolve, reject) => {
      stream.once('end', resolve)
      stream.once('error', reject)
      stream.once('close', () => { if (stream.readableEnded) resolve(); else reject(cut()) })
    })
    const text = Buffer.concat(chunks).toString('utf8')
    const raw = headers['set-cookie']
    return {
      status: Number(headers[':status']),
      headers,
      setCookies: raw === undefined ? [] : Array.isArray(raw) ? raw : [raw],
      text,
      json: (): unknown => JSON.parse(text) as unknown,
      stream
    }
  }
}
