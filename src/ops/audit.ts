import { LRUCache } from 'lru-cache'
import type { Config } from '../config/schema.js'
import { AuditFile } from './audit-file.js'
import type { EventSink, GatewayEvent } from './events.js'
import { WebhookQueue } from './webhook.js'

export interface AuditLog {
  warn: (details: Record<string, unknown>, message: string) => void
  info: (details: Record<string, unknown>, message: string) => void
}

/** One line of the audit trail: the event, its time, and the gateway's mode. */
export type AuditRecord = GatewayEvent & { time: string, mode: Config['mode'] }

/**
 * The audit trail: every event as one JSON line, to a file (appended), to
 * stdout (`-`), and/or to a webhook. Writing never waits: lines go to the
 * file's bounded buffer (audit-file.ts), webhook events to a bounded queue
 * delivered in the background. A refused request is written once per
 * session (a browser retrying in a loop must not flood the trail); the
 * metrics count each one.
 *
 * Session ids are the keyed hashes the admin API uses, never cookies.
 */
export class AuditTrail implements EventSink {
  readonly #file: AuditFile | undefined
  #closed = false
  readonly #webhook: WebhookQueue | undefined
  readonly #refused = new LRUCache<string, true>({ max: 100_000 })
  readonly #now: () => number
  #mode: Config['mode']

  constructor (config: Config, log: AuditLog, now: () => number) {
    this.#now = now
    this.#mode = config.mode
    this.#file = config.audit.file === undefined ? undefined : new AuditFile(config.audit.file, log, now)
    const url = config.audit.webhook
    this.#webhook = url === undefined
      ? undefined
      : new WebhookQueue({ url, headers: config.audit.webhookHeaders, timeout: config.audit.webhookTimeout, max: config.audit.queue }, log)
  }

  get enabled (): boolean {
    return this.#file !== undefined || this.#webhook !== undefined
  }

  /** For the metrics: the file's waiting bytes and dropped events (undefined without a file). */
  get fileStats (): (() => { dropped: number, buffered: number }) | undefined {
    const file = this.#file
    return file === undefined ? undefined : () => ({ dropped: file.dropped, buffered: file.buffered })
  }

  /** For the metrics: the webhook's queue and failures (undefined without a webhook). */
  get webhookStats (): (() => { dropped: number, failures: number, queued: number }) | undefined {
    const webhook = this.#webhook
    return webhook === undefined ? undefined : () => ({ dropped: webhook.dropped, failures: webhook.failures, queued: webhook.size })
  }

  /** The mode can change on reload; where the trail goes cannot (it needs a restart). */
  setMode (mode: Config['mode']): void {
    this.#mode = mode
  }

  emit (event: GatewayEvent): void {
    if (!this.enabled) return
    if (event.type === 'request_refused') {
      if (this.#refused.has(event.session)) return
      this.#refused.set(event.session, true)
    }
    const record: AuditRecord = { time: new Date(this.#now()).toISOString(), mode: this.#mode, ...event }
    if (this.#file !== undefined && !this.#closed) this.#file.write(`${JSON.stringify(record)}\n`)
    this.#webhook?.push(record)
  }

  /** Reopens the file (after log rotation moved it away); SIGHUP does this. */
  reopen (): void {
    if (!this.#closed) this.#file?.reopen()
  }

  /** Writes out what is buffered, and gives the webhook a last chance to deliver. */
  async close (): Promise<void> {
    await this.#webhook?.close()
    if (this.#closed) return
    this.#closed = true
    await this.#file?.close()
  }
}
