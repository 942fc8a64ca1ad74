import type { Gateway } from '../proxy/gateway.js'

export interface Shutdown {
  /** Resolves once the gateway is closed: listeners, audit trail, store (the memory store's snapshot written). */
  done: Promise<void>
  /** Stops waiting for requests in flight: their connections are closed now. */
  cutShort: (why: string) => void
}

/**
 * Node closes the connections that are idle when a server stops listening,
 * not the ones that become idle later, when the answer they were waiting for
 * is sent: a client keeping its connection alive would hold the shutdown for
 * Fastify's keepAliveTimeout (72 s). So while stopping, connections are
 * closed as soon as they are idle. Node has no event for that moment; this
 * is how often it is looked for.
 */
const IDLE_SWEEP_MS = 100

/**
 * Stops the gateway gracefully. From the first moment `/readyz` answers 503
 * (`shutdown`), and new connections to the proxied port are refused;
 * requests in flight get up to `graceMs` to finish (Fastify's close waits
 * for them; new requests on kept-alive connections get 503); after that
 * their connections are closed, so a stuck client or app cannot hold the
 * process. The admin API (and its probes) stops once the proxied port has.
 * The state is saved either way.
 */
export function shutdown (gateway: Gateway, graceMs: number): Shutdown {
  const log = gateway.app.log
  let cut = false
  const cutShort = (why: string): void => {
    if (cut) return
    cut = true
    log.warn({ why }, 'closing the connections of requests still in flight')
    gateway.connections.closeAll()
  }
  // HTTP/2 sessions are asked to close at the first sweep (GOAWAY), and close once their streams are done.
  const idle = setInterval(() => { gateway.connections.closeIdle() }, IDLE_SWEEP_MS)
  const timer = setTimeout(() => { cutShort(`shutdownTimeout (${graceMs} ms) is over`) }, graceMs)
  const done = gateway.close().finally(() => {
    clearTimeout(timer)
    clearInterval(idle)
  })
  return { done, cutShort }
}
