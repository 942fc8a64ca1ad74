import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import proxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import type { Dispatcher } from 'undici'
import { errors } from '../errors.js'
import { withoutSessionPieces } from '../http/cookie-strip.js'
import type { GatewayContext } from './context.js'
import { kState } from './symbols.js'
import type { AskContext } from '../identity/index.js'
import type { WebSocket } from 'ws'
import { UpstreamPool } from './upstream-pool.js'
import { requestAuthority } from './http2-request.js'

// Hop-by-hop and handshake headers a WebSocket client must set itself.
const WS_OWN_HEADERS = new Set([
  'connection', 'upgrade', 'host', 'content-length', 'transfer-encoding', 'keep-alive',
  'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol'
])

/**
 * The proxying itself: @fastify/http-proxy (reply-from on undici) with the
 * settings a transparent gateway needs. It is registered in its own
 * encapsulated context whose only body parser passes the raw stream through,
 * so no body is ever parsed or buffered by Fastify (its default `text/plain`
 * and JSON parsers would buffer up to `bodyLimit` and refuse the rest).
 */
export async function registerUpstream (app: FastifyInstance, ctx: GatewayContext, preHandler: (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void): Promise<void> {
  const { config } = ctx
  await app.register(async function upstreamContext (instance) {
    instance.removeAllContentTypeParsers()
    instance.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })
    instance.addHook('preHandler', preHandler)
    const pool = new UpstreamPool({
      connections: config.proxy.connections,
      pipelining: 1,
      keepAliveTimeout: config.proxy.keepAliveTimeout,
      headersTimeout: config.proxy.timeout,
      bodyTimeout: config.proxy.timeout,
      // What reply-from set on the agent it made itself: the app's
      // certificate is not verified. Kept, so that owning the pool changes
      // nothing else.
      connect: { rejectUnauthorized: false }
    })
    // reply-from leaves a pool it was given open.
    instance.addHook('onClose', async () => { await pool.close() })

    // http-proxy reads `rewriteRequestHeaders` here, though its types do not
    // declare it; by default it forwards nothing but the Cookie header to the
    // app's WebSocket endpoint, which breaks apps that check Origin or auth.
    const wsClientOptions = {
      rewriteRequestHeaders: (_headers: Record<string, string>, request: FastifyRequest) => {
        const out: Record<string, string> = {}
        for (const [name, value] of Object.entries(forwardHeaders(ctx, request, { ...request.headers }))) {
          if (!WS_OWN_HEADERS.has(name) && value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : String(value)
        }
        return out
      }
    }
    const options: FastifyHttpProxyOptions & { websocket: true, wsHooks: { onConnect: (context: unknown, source: WebSocket) => void } } = {
      upstream: config.upstream,
      proxyPayloads: false,
      // reply-from logs two info lines per request unless told not to.
      disableRequestLogging: !config.log.requests,
      websocket: true,
      httpMethods: app.supportedMethods,
      internalRewriteLocationHeader: false,
      // Only the callback form of `request` is called (reply-from lib/request.js).
      undici: pool as unknown as { request: Dispatcher['request'] },
      // A client that goes away cancels its request to the app (upstream-pool.ts).
      handler: (_request, reply, dest, options) => pool.forward(reply.raw, () => reply.from(dest, options)),
      replyOptions: {
        // The query string goes to the app exactly as the client wrote it
        // (http-proxy would otherwise re-encode it).
        queryString: (_search: string | undefined, url: string) => {
          const q = url.indexOf('?')
          return q === -1 ? '' : url.slice(q + 1)
        },
        // reply-from retries a GET up to 10 times when the app answers 503;
        // the app's answer is the app's answer, so never retry.
        retryDelay: () => null,
        // The plugin types these for any server (HTTP/2 too); the gateway serves HTTP/1.
        rewriteHeaders: (headers) => withoutHopByHop(headers),
        rewriteRequestHeaders: (request, headers) => {
          ctx.counters.proxied++
          return forwardHeaders(ctx, request as FastifyRequest, headers)
        },
        onError: (anyReply, { error }: { error: Error & { statusCode?: number } }) => {
          const reply = anyReply as FastifyReply
          ctx.counters.upstreamErrors++
          const state = reply.request[kState]
          if (state != null) state.answered = true
          const timeout = error.statusCode === 504 || /timeout/i.test(error.name + String((error.cause as Error | undefined)?.name))
          const err = timeout ? new errors.UPSTREAM_TIMEOUT() : new errors.UPSTREAM_UNREACHABLE()
          reply.log.warn({ code: err.code, cause: (error.cause as Error | undefined)?.message ?? error.message }, 'upstream request failed')
          void reply.code(err.statusCode).type('text/plain; charset=utf-8').send(`${err.message} (${err.code})\n`)
        }
      },
      // Weak-type check: the object holds only the undeclared key.
      wsClientOptions: wsClientOptions as NonNullable<FastifyHttpProxyOptions['wsClientOptions']>,
      wsHooks: {
        // Remember the client socket under its sessions, to close it when they end.
        onConnect: (_context: unknown, source: WebSocket) => { ctx.sockets.connected(source) }
      }
    }
    await instance.register(proxy, options)
  })
}

// RFC 9110 §7.6.1: these describe one connection, not the message.
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-authenticate']
const HOP_BY_HOP_SET: ReadonlySet<string> = new Set(HOP_BY_HOP)

/**
 * The app's answer headers without its connection-level ones. reply-from
 * copies them as they are, so the app's `Connection: keep-alive` would
 * override what the client asked for (`Connection: close` kept the client's
 * socket open) and leak the app's keep-alive timeout.
 */
function withoutHopByHop<H extends Record<string, unknown>> (headers: H): H {
  const connection = headers.connection
  const drop = typeof connection === 'string' ? new Set(connection.split(',').map((n) => n.trim().toLowerCase())) : undefined
  // A copy without them, rather than `delete`: deleting puts the object in
  // V8's slow (dictionary) mode, and every later header access pays for it.
  const kept: Record<string, unknown> = {}
  for (const name in headers) {
    if (!HOP_BY_HOP_SET.has(name) && drop?.has(name) !== true) kept[name] = headers[name]
  }
  return kept as H
}

/**
 * The headers the app receives. The client's own Connection-listed headers
 * are already gone (reply-from strips them first, so a client cannot use
 * `Connection: x-forwarded-for` to remove what is added here).
 */
export function forwardHeaders (ctx: GatewayContext, request: FastifyRequest, headers: IncomingHttpHeaders): IncomingHttpHeaders {
  // Only the gateway marks its own questions to the app (whoami).
  delete headers['x-sessioncap-whoami']
  // `Expect: 100-continue` (curl above 1 MB, .NET's HttpClient) was met by
  // Node, which told the client to go on; undici refuses to send it on (and
  // the request failed as 502), and the app gets the whole body anyway.
  if (headers.expect !== undefined) delete headers.expect
  if (Buffer.isBuffer(request.body)) {
    // A buffered login body (login-body.ts): reply-from wrote the bare media
    // type (a multipart boundary or a charset gone); the client's own goes back.
    const type = request.headers['content-type']
    if (type === undefined) delete headers['content-type']
    else headers['content-type'] = type
  }
  const { config } = ctx
  const state = request[kState]
  if (state?.strip !== undefined && typeof headers.cookie === 'string') {
    // Every piece any framework would read an ended value from goes: the
    // session check made sure (reading the same result) that none is left.
    const stripped = new Set([...state.strip].map(ctx.hash))
    const rest = withoutSessionPieces(headers.cookie, config.session.cookie, (value) => stripped.has(ctx.hash(value)))
    if (rest === undefined) delete headers.cookie
    else headers.cookie = rest
  }

  // The socket may be gone by the time an answer is read (whoami after the app answered).
  const peer = request.raw.socket?.remoteAddress ?? request.ip ?? ''
  const trusted = config.proxy.trustProxy !== false
  const prior = headers['x-forwarded-for']
  // Behind a trusted proxy the chain is extended; otherwise a client could
  // forge its address, so the chain starts here.
  headers['x-forwarded-for'] = trusted && typeof prior === 'string' && prior !== '' ? `${prior}, ${peer}` : peer
  headers['x-forwarded-proto'] = request.protocol
  headers['x-forwarded-host'] = request.host
  if (!trusted) delete headers.forwarded
  // Over HTTP/2 the client's host is its :authority (reply-from dropped the pseudo-headers).
  const host = config.proxy.preserveHost ? requestAuthority(request) : undefined
  if (host !== undefined) headers.host = host
  return headers
}

// What whoami passes on of the browser's request: what the app may check a session against.
const WHOAMI_HEADERS = ['host', 'user-agent', 'accept-language', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded']

/** The browser as whoami presents it to the app: the request's headers as the proxied request carries them, with these cookies. */
export function whoamiContext (ctx: GatewayContext, request: FastifyRequest, cookieHeader: string): AskContext {
  const forwarded = forwardHeaders(ctx, request, { ...request.headers })
  const headers: Record<string, string> = {}
  for (const name of WHOAMI_HEADERS) {
    const v = forwarded[name]
    if (typeof v === 'string') headers[name] = v
  }
  if (!ctx.config.proxy.preserveHost) delete headers.host
  return { cookieHeader, headers }
}
