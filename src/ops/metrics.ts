import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EventSink, GatewayEvent } from './events.js'
import type { StoreStats } from '../store/store.js'

/** Counts kept as plain numbers on the hot path (an increment per proxied request), read when scraped. */
export interface HotCounters {
  proxied: number
  upstreamErrors: number
}

export interface MetricsSources {
  counters: HotCounters
  /** The store's counts; a failure leaves the gauges as they were. */
  stats: () => Promise<StoreStats>
  webhook?: () => { dropped: number, failures: number, queued: number }
  /** The audit file's drops and backlog (`audit.file`). */
  auditFile?: () => { dropped: number, buffered: number }
  /** `store.maxEnded`: where new sign-ins start being refused (alert on ended / this). */
  maxEnded?: number
}

/**
 * The Prometheus metrics (`GET /metrics` on the admin listener), in a
 * registry of their own. Events move the counters; the store's counts are
 * read at scrape time.
 */
export class Metrics implements EventSink {
  readonly registry = new Registry()
  readonly #logins: Counter<'outcome'>
  readonly #settled: Counter<'outcome'>
  readonly #ended: Counter<'reason'>
  readonly #refused: Counter<'reason'>
  readonly #observed: Counter<'action'>
  readonly #upstreamLogouts: Counter<'outcome'>
  readonly storeSeconds: Histogram<'operation'>
  readonly storeErrors: Counter<'operation'>

  constructor (sources: MetricsSources) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'sessioncap_' })
    new Counter({
      name: 'sessioncap_requests_proxied_total',
      help: 'Requests forwarded to the app.',
      registers,
      collect () { this.reset(); this.inc(sources.counters.proxied) }
    })
    new Counter({
      name: 'sessioncap_upstream_errors_total',
      help: 'Requests the app did not answer (unreachable or timed out).',
      registers,
      collect () { this.reset(); this.inc(sources.counters.upstreamErrors) }
    })
    this.#logins = new Counter({ name: 'sessioncap_logins_total', help: 'Logins by outcome: admitted, rejected (over the limit), pending (asked to choose).', labelNames: ['outcome'], registers })
    this.#settled = new Counter({ name: 'sessioncap_pending_settled_total', help: 'Pending logins (policy ask) settled: by the user\'s choice or the fallback (settled), or refused by a reject-new fallback (refused_after_wait).', labelNames: ['outcome'], registers })
    this.#ended = new Counter({ name: 'sessioncap_sessions_ended_total', help: 'Sessions ended, by reason.', labelNames: ['reason'], registers })
    this.#refused = new Counter({ name: 'sessioncap_requests_refused_total', help: 'Requests refused because they carried an ended session, by the reason it ended.', labelNames: ['reason'], registers })
    this.#observed = new Counter({ name: 'sessioncap_observed_total', help: 'Observe mode: what enforce would have done (end_session, reject_login, ask, refuse_request).', labelNames: ['action'], registers })
    this.#upstreamLogouts = new Counter({ name: 'sessioncap_upstream_logouts_total', help: 'The app\'s logout replayed for ended sessions (ended.upstreamLogout), by outcome.', labelNames: ['outcome'], registers })
    // Both gauges come from one read of the store, shared by every scrape in
    // flight (with Redis it scans the keys): each gauge waits for it, so
    // neither reports the previous scrape's value.
    let reading: Promise<void> | undefined
    const readStats = async (): Promise<void> => {
      reading ??= sources.stats().then((stats) => {
        live.set(stats.live)
        endedGauge.set(stats.ended)
      }, () => {
        // The store is away: the gauges keep their last values (readyz says why).
      }).finally(() => { reading = undefined })
      await reading
    }
    const live = new Gauge({ name: 'sessioncap_live_sessions', help: 'Sessions tracked (counting or idle).', registers, collect: readStats })
    const endedGauge = new Gauge({ name: 'sessioncap_ended_sessions', help: 'Ended sessions still refused.', registers, collect: readStats })
    if (sources.maxEnded !== undefined) {
      new Gauge({ name: 'sessioncap_ended_sessions_max', help: 'store.maxEnded: at this many ended sessions new sign-ins are refused.', registers }).set(sources.maxEnded)
    }
    this.storeSeconds = new Histogram({
      name: 'sessioncap_store_duration_seconds',
      help: 'How long store operations took.',
      labelNames: ['operation'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 1],
      registers
    })
    this.storeErrors = new Counter({ name: 'sessioncap_store_errors_total', help: 'Store operations that failed (unreachable, timed out).', labelNames: ['operation'], registers })
    const webhook = sources.webhook
    const auditFile = sources.auditFile
    if (webhook !== undefined || auditFile !== undefined) {
      // One counter for every sink, so one alert covers a trail with holes.
      new Counter({
        name: 'sessioncap_audit_dropped_total',
        help: 'Audit events dropped because a sink was not keeping up: sink="file" (its buffer was full, or the file could not be written), sink="webhook" (its queue was full).',
        labelNames: ['sink'],
        registers,
        collect () {
          this.reset()
          if (auditFile !== undefined) this.inc({ sink: 'file' }, auditFile().dropped)
          if (webhook !== undefined) this.inc({ sink: 'webhook' }, webhook().dropped)
        }
      })
    }
    if (auditFile !== undefined) {
      new Gauge({ name: 'sessioncap_audit_file_buffered_bytes', help: 'Bytes of audit lines waiting for the file (bounded; beyond, events are dropped).', registers, collect () { this.set(auditFile().buffered) } })
    }
    if (webhook !== undefined) {
      new Gauge({ name: 'sessioncap_audit_webhook_queued', help: 'Audit events waiting for the webhook.', registers, collect () { this.set(webhook().queued) } })
      new Counter({ name: 'sessioncap_audit_webhook_failures_total', help: 'Failed webhook deliveries (each is retried).', registers, collect () { this.reset(); this.inc(webhook().failures) } })
      new Counter({ name: 'sessioncap_audit_webhook_dropped_total', help: 'Audit events dropped because the webhook queue was full.', registers, collect () { this.reset(); this.inc(webhook().dropped) } })
    }
  }

  emit (event: GatewayEvent): void {
    switch (event.type) {
      case 'login':
        if (event.outcome === 'settled' || event.outcome === 'refused_after_wait') this.#settled.inc({ outcome: event.outcome })
        else if (event.enforced) this.#logins.inc({ outcome: event.outcome })
        else this.#observed.inc({ action: event.outcome === 'rejected' ? 'reject_login' : 'ask' })
        break
      case 'session_ended':
        if (event.enforced) this.#ended.inc({ reason: event.reason })
        else this.#observed.inc({ action: 'end_session' })
        break
      case 'request_refused':
        if (event.enforced) this.#refused.inc({ reason: event.reason })
        else this.#observed.inc({ action: 'refuse_request' })
        break
      case 'upstream_logout':
        this.#upstreamLogouts.inc({ outcome: event.outcome })
        break
    }
  }

  async text (): Promise<string> {
    return await this.registry.metrics()
  }
}
