import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'

const redis = await startRedis(t, { persistent: false })

function commandCount (): number {
  const stats = redis.cli('info', 'commandstats')
  // Heartbeats (PUBLISH, once a second) are not the hot path's.
  return [...stats.matchAll(/cmdstat_([a-z|]+):calls=(\d+)/g)].filter((m) => m[1] !== 'publish').reduce((sum, m) => sum + Number(m[2]), 0)
}

t.test('the hot path: requests with a known session do not wait on Redis', async (t) => {
  const prefix = freshPrefix()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}", cacheTtl: 10s, touchInterval: 5s }\n`, realClock: true })
  const d = h.device()
  await d.formLogin('alice')
  await d.whoami()
  const before = commandCount()
  for (let i = 0; i < 100; i++) t.equal(await d.whoami(), 'alice')
  // INFO itself counts as one command per call.
  const used = commandCount() - before - 1
  t.ok(used <= 2, `100 requests cost ${used} Redis commands`)
})

t.test('last use is written at most once per touchInterval, and keys expire by themselves', async (t) => {
  const prefix = freshPrefix()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nsessions: { maxAge: 1d }\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}", cacheTtl: 1s, touchInterval: 5s }\n` })
  const d = h.device()
  await d.formLogin('alice')
  const [first] = await h.gateway.store.sessionsOf('alice', h.clock.now())
  h.clock.advance(2_000)
  await d.whoami()
  const [second] = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(second?.lastUsedAt, first?.lastUsedAt, '2 s later: not written yet')
  h.clock.advance(4_000)
  await d.whoami()
  await new Promise((resolve) => setTimeout(resolve, 100))
  const [third] = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(third?.lastUsedAt, h.clock.now(), '6 s later: written')

  const keys = redis.cli('--scan', '--pattern', `${prefix}*`).trim().split('\n').filter(Boolean)
  t.ok(keys.length >= 2, `${keys.length} keys`)
  for (const key of keys) {
    const ttl = Number(redis.cli('pttl', key).trim())
    t.ok(ttl > 0 && ttl <= 86_400_000 + 3_600_000, `${key.replace(prefix, '')} expires by itself (${Math.round(ttl / 3_600_000)} h)`)
  }
})

t.test('a user\'s index of ended sessions is pruned by the script that reads it', async (t) => {
  const prefix = freshPrefix()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nsessions: { maxAge: 1h }\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}" }\n` })
  for (let i = 0; i < 20; i++) await h.device().formLogin('churn')
  const endedKey = redis.cli('--scan', '--pattern', `${prefix}{u:*}:ended`).trim()
  t.equal(Number(redis.cli('hlen', endedKey).trim()), 19, '19 ended sessions recorded')
  h.clock.advance(3_600_000 + 1)
  await h.device().formLogin('churn')
  t.equal(Number(redis.cli('hlen', endedKey).trim()), 0, 'the next login pruned those past maxAge')
})
