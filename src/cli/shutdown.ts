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
 * Stops the gateway gracefully. New connections are refused at once;
 * requests in flight get up to `graceMs` to finish (Fastify's close waits
 * for them, and answers 503 to new requests on kept-alive connections);
 * after that their connections are closed, so a stuck client or app cannot
 * hold the process. The state is saved either way.
 */
export function shutdown (gateway: Gateway, graceMs: number): Shutdown {
  const log = gateway.app.log
  const servers = [gateway.app.server, ...(gateway.admin === undefined ? [] : [gateway.admin.server])]
  let cut = false
  const cutShort = (why: string): void => {
    if (cut) return
    cut = true
    log.warn({ why }, 'closing the connections of requests still in flight')
    for (const server of servers) server.closeAllConnections()
  }
  const idle = setInterval(() => { for (const server of servers) server.closeIdleConnections() }, IDLE_SWEEP_MS)
  const timer = setTimeout(() => { cutShort(`shutdownTimeout (${graceMs} ms) is over`) }, graceMs)
  const done = gateway.close().finally(() => {
    clearTimeout(timer)
    clearInterval(idle)
  })
  return { done, cutShort }
}
