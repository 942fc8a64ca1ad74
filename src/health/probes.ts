import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errors } from '../errors.js'
import type { Readiness } from './readiness.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `/healthz` or `/readyz`: answered without the admin token, and while the gateway stops. */
    sessioncapProbe?: true
  }
}

const NO_STORE = { 'cache-control': 'no-store' }

/**
 * `GET /healthz` (liveness: 200 while the process serves) and `GET /readyz`
 * (readiness: 200, or 503 saying only why: `store` or `shutdown`), under
 * `prefix`. They need no token and tell nothing but ok or not, so a load
 * balancer or Kubernetes can ask them; their answers are never cached
 * (a cached "ok" would hide the very change a probe is there to see).
 */
export function registerProbes (instance: FastifyInstance, readiness: Readiness, prefix = '/'): void {
  const config = { sessioncapProbe: true as const }
  instance.get(`${prefix}healthz`, { config }, async (_request, reply) => await reply.code(200).headers(NO_STORE).send({ status: 'ok' }))
  instance.get(`${prefix}readyz`, { config }, async (_request, reply) => {
    const answer = await readiness.check()
    return await reply.code(answer.status === 'ok' ? 200 : 503).headers(NO_STORE).send(answer)
  })
}

export function isProbe (request: FastifyRequest): boolean {
  return request.routeOptions.config?.sessioncapProbe === true
}

const STOPPING = new errors.SHUTTING_DOWN()

/**
 * onRequest, before every other hook: once the gateway is stopping, a
 * request that still arrives (on a connection kept alive) gets 503 and
 * reaches nothing; the probes are answered, and say `shutdown`. In place of
 * Fastify's `return503OnClosing`, which answers before any hook or route
 * runs, probes included.
 */
export function refuseWhileStopping (readiness: Readiness) {
  return function refuseIfStopping (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    if (!readiness.stopping || isProbe(request)) { done(); return }
    void reply.code(STOPPING.statusCode).headers({ ...NO_STORE, 'retry-after': '5' }).type('text/plain; charset=utf-8').send(`${STOPPING.message} (${STOPPING.code})\n`)
  }
}
