import type { IncomingMessage, ServerResponse } from 'node:http'
import { constants, type Http2ServerRequest } from 'node:http2'
import type { Server } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'

/**
 * Where a request that came over HTTP/2 (`listen.http2`) differs from an
 * HTTP/1.1 one, as Node's compatibility API presents it. What needs nothing:
 * - header names arrive in lower case, as Node gives HTTP/1.1 ones too;
 * - a `cookie` split over several header fields (RFC 9113 §8.2.3, which
 *   lets a client compress each crumb apart) is joined with `; ` by Node
 *   into the one `cookie` header the gateway reads and the app gets;
 * - there is no `Connection` header (connection-specific fields are
 *   malformed in HTTP/2, RFC 9113 §8.2.2), and reply-from strips the app's
 *   before answering;
 * - no WebSocket upgrade (RFC 8441 is not offered): those clients use
 *   HTTP/1.1 on the same port.
 * What differs is below.
 */

/** The raw request as Node's HTTP/2 compatibility API has it, or undefined for HTTP/1. */
export function http2Request (raw: IncomingMessage): Http2ServerRequest | undefined {
  // The gateway's Fastify is typed for HTTP/1 (gateway.ts); over HTTP/2 its raw request is an Http2ServerRequest.
  return raw.httpVersionMajor === 2 ? raw as unknown as Http2ServerRequest : undefined
}

/**
 * The host the client asked for: HTTP/2 names it in `:authority`, and a
 * client need not send `Host` at all (RFC 9113 §8.3.1).
 */
export function requestAuthority (request: FastifyRequest): string | undefined {
  const host = request.headers.host ?? request.headers[':authority']
  return typeof host === 'string' ? host : undefined
}

/**
 * Whether content follows the request's headers. HTTP/1.1 says so with
 * Content-Length or Transfer-Encoding (RFC 9112 §6.3); in HTTP/2 a request
 * has content whenever its HEADERS frame does not end the stream, and
 * Content-Length is optional (RFC 9113 §8.1.1): browsers send it, a
 * streaming `fetch` does not.
 */
export function bodyFollows (request: FastifyRequest): boolean {
  const h2 = http2Request(request.raw)
  if (h2 !== undefined) return !h2.stream.endAfterHeaders
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * The gateway answered before the request's content was all read (a login
 * body too large, too slow): the client must stop sending it. HTTP/1.1
 * closes the connection after the answer (`Connection: close`); HTTP/2 has
 * no such header and keeps the connection: the stream alone is reset with
 * NO_ERROR once the answer is complete, which is how RFC 9113 §8.1 lets a
 * server ask a client to abort a request it already answered. (Left open,
 * a stream whose content nobody reads would hold its flow-control window,
 * and keep its session from closing, for ever.)
 */
export function stopRequestBodyAfterAnswer (request: FastifyRequest, reply: FastifyReply): void {
  const h2 = http2Request(request.raw)
  if (h2 === undefined) {
    void reply.header('connection', 'close')
    return
  }
  closeOnceAnswered(h2)
}

/** Resets the request's stream with NO_ERROR once its answer is written out (stopRequestBodyAfterAnswer says why). */
function closeOnceAnswered (h2: Http2ServerRequest): void {
  // The stream's own 'finish' (its answer written out), not the response's: Node's compatibility
  // response emits 'finish' only once the stream has closed, which is what is waited for here.
  h2.stream.once('finish', () => {
    h2.stream.close(constants.NGHTTP2_NO_ERROR)
    // Its unread content would otherwise keep it (and a closing session) open: dropped.
    h2.stream.destroy()
  })
}

type PreHandler = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

/** Methods whose content Fastify never reads, whatever the protocol (its bodyless methods). */
const BODYLESS = new Set(['GET', 'HEAD', 'TRACE'])

/**
 * Fastify parses no body it believes absent, and it decides that by the
 * HTTP/1.1 rule (no Content-Type, no Content-Length, no Transfer-Encoding):
 * an HTTP/2 request that sends content without them would reach the app
 * empty, and a login's user could not be read from it. Such a body is put
 * back as the stream it is, before the other preHandlers (the login body)
 * and reply-from see it.
 */
export function withHttp2Body (next: PreHandler): PreHandler {
  return function keepHttp2Body (request, reply, done): void {
    if (request.body === undefined && !BODYLESS.has(request.method) && http2Request(request.raw) !== undefined && bodyFollows(request)) {
      request.body = request.raw
    }
    next(request, reply, done)
  }
}

/** What RFC 3986 allows in a request target, and Node's HTTP/1.1 parser lets through: visible ASCII. */
const NOT_TARGET = /[^\x21-\x7e]/

type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/**
 * HTTP/2 requests that Node's HTTP/1.1 parser would have refused before a
 * request existed, answered as refused before Fastify sees them:
 *
 * - a method outside its fixed list (http.METHODS, all of them routed by the
 *   gateway): HTTP/2 carries any token as `:method` (`post`, `BREW`), and
 *   Fastify, which routes only the methods it was told of, answered those 404
 *   "internal error" and logged two warnings with its whole route tree, ~1 KB
 *   of log a request. 501, the status for a method the server does not
 *   implement (RFC 9110 §15.6.2);
 * - a `:path` holding bytes beyond ASCII (nghttp2 lets them through; it
 *   refuses controls and spaces). Forwarded, they reached the app as raw
 *   bytes, which apps read as UTF-8 (Rails' params, Python servers) while the
 *   gateway's readers see one Latin-1 character per byte: `?username=josé`
 *   sent raw was a login of `josÃ©` to the gateway and of `josé` to the app,
 *   counted against another account. Browsers percent-encode. 400.
 *
 * Each answer is the catalogue's text. HTTP/1.1 requests on the same port
 * (ALPN) pass untouched: their parser already refused both.
 */
export function refuseWhatHttp1Refuses (server: Server, methods: readonly string[]): void {
  const known = new Set(methods)
  const listeners = server.listeners('request') as RequestListener[]
  server.removeAllListeners('request')
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const refused = !known.has(req.method ?? '')
      ? new errors.METHOD_NOT_SUPPORTED()
      : req.httpVersionMajor === 2 && NOT_TARGET.test(req.url ?? '') ? new errors.BAD_REQUEST_PATH() : undefined
    if (refused === undefined) {
      for (const listener of listeners) listener.call(server, req, res)
      return
    }
    res.writeHead(refused.statusCode, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' })
    res.end(`${refused.message} (${refused.code})\n`)
    // Content still coming is not read.
    const h2 = http2Request(req)
    if (h2 !== undefined && !h2.stream.endAfterHeaders) closeOnceAnswered(h2)
  })
}
