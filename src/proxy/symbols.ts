import type { RequestState } from './context.js'

/** Private per-request state hangs on a symbol, out of the way of Fastify and other plugins. */
export const kState: unique symbol = Symbol('sessioncap.state')

declare module 'fastify' {
  interface FastifyRequest {
    [kState]: RequestState | null
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * One of the gateway's own pages (see pages/routes.ts), which the session
     * check treats apart: a waiting session (policy ask) may reach them, and
     * the signed-out page (`ended`) never refuses a cookie.
     */
    sessioncapPage?: 'page' | 'ended'
  }
}
