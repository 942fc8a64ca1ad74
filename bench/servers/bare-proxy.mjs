// The floor for any Fastify proxy: a bare @fastify/http-proxy with the same
// connection settings as sessioncap (src/proxy/upstream.ts: undici with 128
// connections, no pipelining, 60 s keep-alive and timeouts, no retries), and
// the X-Forwarded-For/-Proto/-Host headers any production proxy sets —
// written into the header object reply-from hands over, not a copy of it.
import Fastify from 'fastify'
import proxy from '@fastify/http-proxy'
import { profilingOnIpc } from './profiling.mjs'

const upstream = process.argv[2]
const app = Fastify({ logger: false, requestTimeout: 0, return503OnClosing: true })
// Login bodies go through as a stream, as sessioncap's proxy context does.
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', (_req, payload, done) => { done(null, payload) })
await app.register(proxy, {
  upstream,
  proxyPayloads: false,
  disableRequestLogging: true,
  httpMethods: app.supportedMethods,
  internalRewriteLocationHeader: false,
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 60_000, bodyTimeout: 60_000 },
  replyOptions: {
    retryDelay: () => null,
    rewriteRequestHeaders: (request, headers) => {
      headers['x-forwarded-for'] = request.raw.socket?.remoteAddress ?? ''
      headers['x-forwarded-proto'] = request.protocol
      headers['x-forwarded-host'] = request.host
      if (request.headers.host !== undefined) headers.host = request.headers.host
      return headers
    }
  }
})
const url = await app.listen({ host: '127.0.0.1', port: 0 })
process.send?.({ ready: true, url })
if (process.env.BENCH_PROFILE === '1') profilingOnIpc()
process.on('disconnect', () => { void app.close().then(() => process.exit(0)) })
