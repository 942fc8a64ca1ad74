import type { SessionStore } from '../store/store.js'

/** What `/readyz` answers: ready, or why not (nothing more: the probes need no token). */
export type ReadyAnswer = { status: 'ok' } | { status: 'unavailable', reason: 'store' | 'shutdown' }

/**
 * Whether the gateway should be sent traffic. Not ready:
 * - from the moment it starts to stop (SIGTERM: cli/shutdown.ts, or
 *   `Gateway.close`), so a load balancer stops sending new requests while
 *   those in flight finish;
 * - while the store cannot be reached under `store.onError: fail-closed`,
 *   where logins and unvouched sessions get 503 anyway. Under `fail-open`
 *   the gateway keeps proxying through an outage, so it stays ready (and
 *   the store is not even asked).
 * The app's own health is not part of it: an app that is down is the
 * app's to report, and taking every gateway out of rotation would only
 * turn its 502 into the load balancer's.
 */
export class Readiness {
  #stopping = false

  private readonly store: SessionStore
  private readonly onError: () => 'fail-open' | 'fail-closed'

  constructor (store: SessionStore, onError: () => 'fail-open' | 'fail-closed') {
    this.store = store
    this.onError = onError
  }

  get stopping (): boolean {
    return this.#stopping
  }

  /** From now on the gateway is not ready, for good. */
  stop (): void {
    this.#stopping = true
  }

  async check (): Promise<ReadyAnswer> {
    if (this.#stopping) return { status: 'unavailable', reason: 'shutdown' }
    if (this.onError() === 'fail-closed') {
      try {
        // Bounded by store.commandTimeout (Redis); the memory store answers at once.
        await this.store.ping()
      } catch {
        return { status: 'unavailable', reason: 'store' }
      }
      // The store may have answered just as the stop began.
      if (this.#stopping) return { status: 'unavailable', reason: 'shutdown' }
    }
    return { status: 'ok' }
  }
}
