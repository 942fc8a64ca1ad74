import type { RequestState } from './context.js'

/** Private per-request state hangs on a symbol, out of the way of Fastify and other plugins. */
export const kState: unique symbol = Symbol('sessioncap.state')

declare module 'fastify' {
  interface FastifyRequest {
    [kState]: RequestState | null
  }
}
