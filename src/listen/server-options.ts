import type { Server, Socket } from 'node:net'
import type { Config } from '../config/schema.js'
import type { CertificatePair } from './certificates.js'

/** What Fastify is told about the proxied port's server, beside the gateway's other options. */
export interface ListenerOptions {
  https?: { cert: Buffer, key: Buffer, allowHTTP1?: boolean }
  http2?: true
}

/**
 * The proxied port's kind of server: plain HTTP; HTTPS (`listen.tls`); or
 * HTTP/2 with HTTP/1.1 on the same port (`listen.http2`), the protocol chosen
 * per connection by ALPN (RFC 7301), so browsers get h2 and older clients,
 * curl without --http2 and WebSocket upgrades (an HTTP/1.1 mechanism,
 * RFC 6455 §4.1) keep HTTP/1.1. The app is always spoken to over HTTP/1.1:
 * reply-from's `http2` option stays off.
 */
export function listenerOptions (listen: Config['listen'], pair: CertificatePair | undefined): ListenerOptions {
  if (pair === undefined) return {}
  const https = { cert: pair.cert, key: pair.key }
  return listen.http2 ? { http2: true, https: { ...https, allowHTTP1: true } } : { https }
}

/** Fastify's own keep-alive for HTTP/1.1 connections (its `keepAliveTimeout` default), which it does not apply to an HTTP/2 server. */
const KEEP_ALIVE_MS = 72_000

/**
 * Node's HTTP/2 server answers its HTTP/1.1 connections with timeouts of its
 * own, not the ones Fastify sets on an HTTP/1 server: a 5-minute
 * `requestTimeout` (which would cut a long upload the gateway otherwise lets
 * through: it sets no request-wide timeout) and no keep-alive timeout at all
 * (an idle connection would stay open for ever). Aligned here with the
 * HTTP/1 listener's. HTTP/2 sessions themselves close after Fastify's
 * `http2SessionTimeout` of inactivity.
 */
export function alignHttp1Timeouts (server: Server): void {
  // Node's Http2SecureServer has these (for allowHTTP1) without declaring them.
  const s = server as Server & { requestTimeout?: number, keepAliveTimeout?: number }
  s.requestTimeout = 0
  s.keepAliveTimeout = KEEP_ALIVE_MS
}

/**
 * Node hands an upgrade request's socket to the 'upgrade' event with its own
 * 'error' listener taken off. @fastify/http-proxy runs the gateway's hooks
 * first (the session check, which may wait for Redis or for the app's
 * `whoami`) and gives the socket to ws, which listens for errors, only after
 * them. A client that resets its connection meanwhile made the socket emit
 * an 'error' nothing listened for: Node throws it, and the process died
 * (any client, any WebSocket path, a cookie to check: a remote crash). So
 * every upgrade socket gets a listener at once: an error ends that socket
 * only. Prepended, so it is there before any other 'upgrade' listener runs.
 */
export function keepUpgradeErrorsToTheirSocket (server: Server): void {
  server.prependListener('upgrade', (_request: unknown, socket: Socket) => {
    socket.on('error', () => { socket.destroy() })
  })
}
