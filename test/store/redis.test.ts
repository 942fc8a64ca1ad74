import t from 'tap'
import { RedisStore } from '../../src/store/redis/redis-store.js'
import type { SessionStore } from '../../src/store/store.js'
import { storeContract } from './contract.js'
import { startRedis } from '../helpers/redis.js'
import { freshPrefix, redisStoreConfig } from '../helpers/redis-config.js'

const redis = await startRedis(t, { persistent: false })

storeContract(t, 'redis', async (t, timeouts) => {
  const store = await RedisStore.connect({
    store: redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s'),
    timeouts,
    events: { warn: () => {} }
  })
  t.teardown(async () => { await store.close() })
  return store
})

/**
 * The same contract, each call made by the next of two stores sharing one
 * Redis (two gateways, without caches): what one gateway knows only in its
 * own memory cannot make these pass.
 */
storeContract(t, 'redis, two gateways', async (t, timeouts) => {
  const prefix = freshPrefix()
  const stores = await Promise.all([0, 1].map(async () => await RedisStore.connect({
    store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s\ncacheTtl: 0s'), keyPrefix: prefix },
    timeouts,
    events: { warn: () => {} }
  })))
  t.teardown(async () => { await Promise.all(stores.map(async (s) => { await s.close() })) })
  let turn = 0
  const next = (): SessionStore => stores[turn++ % 2] as SessionStore
  return {
    kind: 'redis-pair',
    check: async (...a) => await next().check(...a),
    admit: async (...a) => await next().admit(...a),
    rotate: async (...a) => await next().rotate(...a),
    end: async (...a) => await next().end(...a),
    settle: async (...a) => await next().settle(...a),
    sessionsOf: async (...a) => await next().sessionsOf(...a),
    stats: async (...a) => await next().stats(...a),
    users: (...a) => next().users(...a),
    ping: async () => { await next().ping() },
    close: async () => {}
  }
}, { fleet: true })
