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

t.test('ended sessions move from the user\'s keys to the compact index, whose time buckets expire whole', async (t) => {
  const prefix = freshPrefix()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nsessions: { maxAge: 1h }\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${prefix}" }\n` })
  const cookies: string[] = []
  for (let i = 0; i < 20; i++) {
    const d = h.device()
    await d.formLogin('churn')
    cookies.push(d.sessionCookie as string)
  }
  const scan = (pattern: string): string[] => redis.cli('--scan', '--pattern', `${prefix}${pattern}`).trim().split('\n').filter(Boolean)
  // Copied in the background after each login: wait until the user's keys hold no ended record.
  for (let i = 0; i < 100 && scan('{u:*}:ended').length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.same(scan('{u:*}:ended'), [], 'the user\'s own ended records are gone')
  t.same(scan('{u:*}:endedz'), [], 'and their time index')
  const buckets = scan('{e:*}:*')
  t.equal(buckets.reduce((n, k) => n + Number(redis.cli('hlen', k).trim()), 0), 19, '19 ended sessions in the index')
  for (const key of buckets) {
    const ttl = Number(redis.cli('pttl', key).trim())
    // One bucket is maxAge / 16: kept for maxAge after its end (plus the keys' margin of 1 h).
    t.ok(ttl > 3_600_000 && ttl <= 3_600_000 + 3_600_000 / 16 + 3_600_000, `${key.replace(prefix, '')} expires whole, in ${Math.round(ttl / 60_000)} min`)
  }
  t.equal(scan('{s:*}').length, 1, 'only the live session keeps a pointer')
  for (const cookie of cookies.slice(0, 19)) {
    const d = h.device()
    d.jar.set('sessionid', cookie)
    t.equal(await d.whoami(), 401, 'each ended session is still refused, from the index')
  }
  h.clock.advance(3_600_000 + 3_600_000 / 16 + 1)
  const late = h.device()
  late.jar.set('sessionid', cookies[0] as string)
  t.not(await late.whoami(), 401, 'past maxAge and its bucket, forgotten')
})
