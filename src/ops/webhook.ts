import type { AuditLog } from './audit.js'

export interface WebhookOptions {
  url: string
  headers: Record<string, string>
  /** How long one delivery may take. */
  timeout: number
  /** Events held at most; beyond, the oldest are dropped (and counted). */
  max: number
}

/** At most this many events per POST. */
const BATCH = 100
const FIRST_RETRY_MS = 500
const LAST_RETRY_MS = 30_000

/**
 * Delivers audit events to a webhook in the background: POSTs of up to 100
 * events (a JSON array), one at a time, in order. A failed delivery (no
 * answer, or not 2xx) is retried with back-off (0.5 s doubling to 30 s) for
 * as long as it takes; meanwhile events wait in a bounded queue. Nothing
 * here is awaited by a request: `push` only appends.
 */
export class WebhookQueue {
  readonly #opts: WebhookOptions
  readonly #log: AuditLog
  #queue: unknown[] = []
  #sending = false
  /** The delivery in flight, if any (close waits for it). */
  #inflight: Promise<void> | undefined
  #delay = 0
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** Events dropped because the queue was full (the webhook was away too long). */
  dropped = 0
  /** Deliveries that failed (each is retried). */
  failures = 0
  delivered = 0

  constructor (opts: WebhookOptions, log: AuditLog) {
    this.#opts = opts
    this.#log = log
  }

  get size (): number {
    return this.#queue.length
  }

  push (event: unknown): void {
    if (this.#closed) return
    this.#queue.push(event)
    if (this.#queue.length > this.#opts.max) {
      this.#queue.shift()
      if (this.dropped++ === 0) this.#log.warn({ max: this.#opts.max }, 'audit webhook: queue full, dropping the oldest events')
    }
    if (!this.#sending && this.#timer === undefined) this.#schedule(0)
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    // What is left gets delivered while the webhook takes it, for at most
    // one delivery timeout in all: the delivery in flight first, then batch
    // after batch until the queue is empty or one fails.
    const deadline = Date.now() + this.#opts.timeout
    await this.#inflight
    while (this.#queue.length > 0 && Date.now() < deadline) {
      const failures = this.failures
      await this.#send()
      if (this.failures !== failures) break
    }
  }

  #schedule (ms: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.#send().then(() => {
        if (this.#closed) return
        if (this.#delay > 0) this.#schedule(this.#delay)
        else if (this.#queue.length > 0) this.#schedule(0)
      })
    }, ms)
    this.#timer.unref()
  }

  async #send (): Promise<void> {
    if (this.#sending || this.#queue.length === 0) return
    this.#sending = true
    this.#inflight = this.#deliver()
    await this.#inflight
  }

  async #deliver (): Promise<void> {
    const batch = this.#queue.slice(0, BATCH)
    try {
      const res = await fetch(this.#opts.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#opts.headers },
        body: JSON.stringify(batch),
        signal: AbortSignal.timeout(this.#opts.timeout)
      })
      await res.arrayBuffer().catch(() => undefined)
      if (res.status < 200 || res.status > 299) throw new Error(`answered ${res.status}`)
      // Only what was sent goes; events dropped meanwhile shifted the queue.
      this.#queue.splice(0, Math.min(batch.length, this.#queue.indexOf(batch[batch.length - 1]) + 1))
      this.delivered += batch.length
      if (this.#delay > 0) this.#log.info({ webhook: originOf(this.#opts.url) }, 'audit webhook: delivering again')
      this.#delay = 0
    } catch (err) {
      this.failures++
      if (this.#delay === 0) this.#log.warn({ webhook: originOf(this.#opts.url), err: (err as Error).message }, 'audit webhook: delivery failed; retrying with back-off')
      this.#delay = this.#delay === 0 ? FIRST_RETRY_MS : Math.min(this.#delay * 2, LAST_RETRY_MS)
    } finally {
      this.#sending = false
    }
  }
}

/** Only the webhook's origin is logged: its path or query may hold a secret. */
function originOf (url: string): string {
  return new URL(url).origin
}
