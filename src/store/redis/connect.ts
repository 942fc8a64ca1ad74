import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Config } from '../../config/schema.js'

export type RedisClient = Redis | Cluster

/**
 * One ioredis client for the configured deployment (a URL, Sentinels, or a
 * Cluster), set to fail fast rather than queue: a gateway must answer within
 * `commandTimeout` whatever Redis does, and a command queued during an outage
 * would otherwise wait for minutes (ioredis's defaults: offline queue on, 20
 * retries per request, no timeout).
 */
export function createRedisClient (store: Config['store'], opts: { subscriber?: boolean } = {}): RedisClient {
  const options: RedisOptions = {
    commandTimeout: opts.subscriber === true ? undefined : store.commandTimeout,
    // A subscriber must queue its SUBSCRIBE until connected; commands must not.
    enableOfflineQueue: opts.subscriber === true,
    maxRetriesPerRequest: opts.subscriber === true ? null : 0,
    connectTimeout: Math.max(1_000, store.commandTimeout * 5),
    // A connection that stops answering (a partition, a dead master behind
    // Sentinel) is dropped after a few timeouts instead of queueing commands
    // until the kernel gives up on it, minutes later.
    socketTimeout: opts.subscriber === true ? undefined : Math.max(1_000, store.commandTimeout * 5),
    keepAlive: 10_000,
    // Reconnect for ever, backing off to one attempt every 2 s.
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
    lazyConnect: true,
    password: store.password
  }
  if (store.cluster !== undefined) {
    const clusterOptions: ClusterOptions = {
      redisOptions: options,
      enableOfflineQueue: opts.subscriber === true,
      clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      lazyConnect: true
    }
    return new Cluster(store.cluster.map((n) => ({ host: n.host, port: n.port })), clusterOptions)
  }
  if (store.sentinels !== undefined) {
    return new Redis({ ...options, sentinels: store.sentinels.map((n) => ({ host: n.host, port: n.port })), name: store.name })
  }
  return new Redis(store.url ?? 'redis://127.0.0.1:6379', options)
}
