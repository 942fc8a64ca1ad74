import t from 'tap'
import { RedisStore } from '../../src/store/redis/redis-store.js'
import type { SessionStore } from '../../src/store/store.js'
import { CONTRACT_TIMEOUTS, storeContract } from './contract.js'
import { startRedis } from '../helpers/redis.js'
import { freshPrefix, redisStoreConfig } from '../helpers/redis-config.js'

const redis = await startRedis(t, { persistent: false })
const T0 = Date.UTC(2026, 0, 1)

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

t.test('redis: a gateway that ends a session another ended first, before it heard of it, keeps the first reason', async (t) => {
  // The second gateway connects after the first ending was announced: only
  // Redis knows it (as when an announcement is late), and its own end() must
  // not leave its guess of the reason in its memory.
  const prefix = freshPrefix()
  const connect = async (): Promise<RedisStore> => {
    const store = await RedisStore.connect({ store: { ...redisStoreConfig(`url: ${redis.url}`, 'commandTimeout: 2s'), keyPrefix: prefix }, timeouts: CONTRACT_TIMEOUTS, events: { warn: () => {} } })
    t.teardown(async () => { await store.close() })
    return store
  }
  const first = await connect()
  await first.admit({ user: 'alice', id: 'a', now: T0, limit: 1, policy: 'evict-oldest', replaces: [] })
  await first.admit({ user: 'alice', id: 'b', now: T0 + 1, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.match(await first.check('a', T0 + 2), { state: 'ended', reason: 'concurrent_login_limit' })
  const second = await connect()
  const ended = await second.end(['b', 'a'], 'logged_out', T0 + 3)
  t.same(ended.map((r) => r.id), ['b'], 'only b was still live')
  t.match(await second.check('a', T0 + 4), { state: 'ended', reason: 'concurrent_login_limit' }, 'a keeps the reason it ended for')
  t.match(await second.check('b', T0 + 4), { state: 'ended', reason: 'logged_out' })
  t.match(await second.check('never', T0 + 4), { state: 'unknown' })
  t.same((await second.end(['never'], 'logged_out', T0 + 5)).length, 0, 'an id never seen is reported as nothing ended')
  t.match(await second.check('never', T0 + 6), { state: 'ended', reason: 'logged_out' }, 'but recorded ended, with this reason')
})
