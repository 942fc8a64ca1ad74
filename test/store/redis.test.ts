import t from 'tap'
import { RedisStore } from '../../src/store/redis/redis-store.js'
import { storeContract } from './contract.js'
import { startRedis } from '../helpers/redis.js'
import { redisStoreConfig } from '../helpers/redis-config.js'

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
