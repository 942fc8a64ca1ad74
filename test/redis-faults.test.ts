import t, { type Test } from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { freePort, startRedis, type RedisServer } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'
import { startRelay } from './helpers/tcp-relay.js'

function storeYaml (redis: { url: string }, onError: string): string {
  return `${APP_ROUTES}secret: ${TEST_SECRET}
store: { type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}", onError: ${onError}, commandTimeout: 200ms, cacheTtl: 300ms }
`
}

async function waitForLog (h: Harness, re: RegExp, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!h.logs.some((l) => re.test(l))) {
    if (Date.now() > deadline) throw new Error(`no log line matching ${String(re)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** Keeps requests flowing until stopped; each must be answered (a hang fails it). Returns what it saw. */
function load (h: Harness, cookie: string): { stop: () => Promise<{ statuses: Map<number, number>, slowest: number, failures: string[] }> } {
  let running = true
  const statuses = new Map<number, number>()
  const failures: string[] = []
  let slowest = 0
  const worker = async (i: number): Promise<void> => {
    while (running) {
      const started = Date.now()
      try {
        const r = await request(`${h.base}/${i % 3 === 0 ? 'status/200' : 'api/me'}`, {
          headers: i % 3 === 0 ? {} : { cookie: `sessionid=${cookie}`, accept: 'application/json' },
          headersTimeout: 5_000,
          bodyTimeout: 5_000
        })
        await r.body.dump()
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1)
      } catch (err) {
        failures.push((err as Error).message)
      }
      slowest = Math.max(slowest, Date.now() - started)
    }
  }
  const workers = Array.from({ length: 6 }, async (_, i) => { await worker(i) })
  return {
    stop: async () => {
      running = false
      await Promise.all(workers)
      return { statuses, slowest, failures }
    }
  }
}

async function setup (t: Test, onError: string): Promise<{ h: Harness, redis: RedisServer, ended: string, bob: string }> {
  const redis = await startRedis(t)
  const h = await startHarness(t, { yaml: storeYaml(redis, onError), realClock: true })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const ended = laptop.sessionCookie as string
  await h.device().formLogin('alice')
  t.equal(await laptop.whoami(), 401, 'before: the laptop\'s session is ended')
  const bobDevice = h.device()
  await bobDevice.formLogin('bob')
  return { h, redis, ended, bob: bobDevice.sessionCookie as string }
}

/** The store's outage line (the login guard's own reads `login guard: Redis is unreachable`). */
const STORE_DOWN = /(?<!login guard: )Redis is unreachable/

t.test('fail-open: Redis killed under load, then restarted: no crash, no hang, nothing lost', async (t) => {
  const { h, redis, ended, bob } = await setup(t, 'fail-open')
  const traffic = load(h, bob)
  await new Promise((resolve) => setTimeout(resolve, 300))
  await redis.kill()
  await waitForLog(h, /Redis is unreachable/)

  const laptop = h.device()
  laptop.jar.set('sessionid', ended)
  t.equal(await laptop.whoami(), 401, 'an ended session this gateway knows of is still refused')
  const bobAgain = h.device()
  bobAgain.jar.set('sessionid', bob)
  t.equal(await bobAgain.whoami(), 'bob', 'a live session passes')
  const carol = h.device()
  t.equal((await carol.formLogin('carol')).status, 302, 'a login is admitted, unrecorded')
  t.equal((await h.device().send('/status/200')).status, 200)

  await new Promise((resolve) => setTimeout(resolve, 500))
  await redis.start()
  await waitForLog(h, /Redis is reachable again/)
  const seen = await traffic.stop()
  t.same(seen.failures, [], 'every request was answered')
  t.comment(`under the outage: statuses ${JSON.stringify([...seen.statuses])}, slowest answer ${seen.slowest} ms`)
  // The store's line once; the login guard (same Redis) says so in a line of its own, at most once.
  t.equal(h.logs.filter((l) => STORE_DOWN.test(l)).length, 1, 'the outage was logged once')
  const guardLines = h.logs.filter((l) => /login guard: Redis/.test(l))
  t.ok(guardLines.filter((l) => /unreachable/.test(l)).length <= 1, 'by the login guard at most once', { lines: guardLines })
  t.equal(h.logs.filter((l) => /Redis is reachable again/.test(l)).length, 1, 'and its end once')
  t.match(h.logs.find((l) => /reachable again/.test(l)), /"loginsNotConfirmed":1/)

  // Nothing written before the outage was lost.
  t.equal(await laptop.whoami(), 401, 'after: the ended session is still refused')
  t.equal((await h.gateway.store.sessionsOf('bob', Date.now())).length, 1, 'bob\'s session is still recorded')
  t.equal((await h.gateway.store.sessionsOf('alice', Date.now())).length, 1, 'alice\'s too')
  const newDevice = h.device()
  await newDevice.formLogin('alice')
  t.equal((await h.gateway.store.sessionsOf('alice', Date.now())).length, 1, 'and the limit still holds against it')
})

t.test('fail-closed: logins and sessions it cannot vouch for get 503 while Redis is away; it recovers by itself', async (t) => {
  const { h, redis, ended, bob } = await setup(t, 'fail-closed')
  await redis.kill()
  await new Promise((resolve) => setTimeout(resolve, 400))
  const bobDevice = h.device()
  bobDevice.jar.set('sessionid', bob)
  t.equal((await bobDevice.send('/api/me')).status, 503, 'a session it cannot vouch for')
  const laptop = h.device()
  laptop.jar.set('sessionid', ended)
  t.equal(await laptop.whoami(), 401, 'a session it knows is ended is still refused (not 503)')
  const carol = h.device()
  const login = await carol.formLogin('carol')
  t.equal(login.status, 503, 'a login')
  t.equal(carol.sessionCookie, undefined, 'whose cookie never reaches the client')
  t.equal((await h.device().send('/status/200')).status, 200, 'requests without a session are proxied')
  t.equal(h.logs.filter((l) => STORE_DOWN.test(l)).length, 1, 'the outage was logged once')

  await redis.start()
  await waitForLog(h, /Redis is reachable again/)
  t.equal(await bobDevice.whoami(), 'bob')
  t.equal((await h.device().formLogin('carol')).status, 302)
})

t.test('a gateway starts while Redis is down, fails open, and uses Redis once it is up', async (t) => {
  const port = await freePort()
  const h = await startHarness(t, { yaml: storeYaml({ url: `redis://127.0.0.1:${port}` }, 'fail-open'), realClock: true })
  t.equal((await h.device().formLogin('dan')).status, 302)
  t.ok(h.logs.some((l) => /Redis is unreachable/.test(l)))
  await startRedis(t, { port })
  await waitForLog(h, /Redis is reachable again/)
  const d = h.device()
  t.equal((await d.formLogin('dan')).status, 302)
  t.equal((await h.gateway.store.sessionsOf('dan', Date.now())).length, 1, 'recorded in Redis now')
})

t.test('a gateway that started while Redis was down still hears of sessions ended elsewhere', async (t) => {
  const port = await freePort()
  const prefix = freshPrefix()
  const yaml = `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: redis, url: "redis://127.0.0.1:${port}", keyPrefix: "${prefix}", cacheTtl: 30s }\n`
  const late = await startHarness(t, { yaml, realClock: true })
  await startRedis(t, { port })
  await waitForLog(late, /Redis is reachable again/)
  const healthy = await startHarness(t, { yaml, realClock: true, app: late.app })
  const d = healthy.device()
  await d.formLogin('alice')
  const viaLate = late.device()
  viaLate.jar.set('sessionid', d.sessionCookie as string)
  t.equal(await viaLate.whoami(), 'alice', 'the late gateway knows (and caches) the session')
  await healthy.device().formLogin('alice')
  await new Promise((resolve) => setTimeout(resolve, 200))
  viaLate.jar.set('sessionid', d.sessionCookie as string)
  t.equal(await viaLate.whoami(), 401, 'ended through the other gateway: refused well within its 30 s cache')
})

t.test('writes missed during an outage are made when Redis is back: a logout, a rotation', async (t) => {
  const { h, redis } = await setup(t, 'fail-open')
  const leaving = h.device()
  await leaving.formLogin('erin')
  const rotating = h.device()
  await rotating.formLogin('fay')
  await redis.kill()
  t.equal((await leaving.send('/admin/logout/', { method: 'POST' })).status, 302, 'logout answered during the outage')
  t.equal((await rotating.send('/rotate', { method: 'POST' })).status, 200, 'rotation answered during the outage')
  await redis.start()
  await waitForLog(h, /Redis is reachable again/)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(await h.gateway.store.sessionsOf('erin', Date.now()), [], 'the logout was recorded after all')
  await h.device().formLogin('fay')
  t.equal(await rotating.whoami(), 401, 'the rotated cookie was followed: a new login ended it')
})

t.test('fail-closed: a rotation that cannot be recorded is not let out', async (t) => {
  const { h, redis } = await setup(t, 'fail-closed')
  const d = h.device()
  await d.formLogin('gus')
  const before = d.sessionCookie
  await redis.kill()
  const r = await d.send('/rotate', { method: 'POST' })
  t.equal(r.status, 503)
  t.equal(d.sessionCookie, before, 'the new cookie never reached the client')
  await redis.start()
})

t.test('a stalled Redis (no answers, connection open) costs each request at most the timeout, and is dropped', async (t) => {
  const { h, redis, bob } = await setup(t, 'fail-open')
  redis.cli('client', 'pause', '1500', 'ALL')
  const d = h.device()
  d.jar.set('sessionid', bob)
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.equal(await d.whoami(), 'bob', 'fail-open: the request went through')
  t.equal((await h.device().formLogin('hal')).status, 302)
  await waitForLog(h, /Redis is reachable again/)
  t.equal((await h.device().formLogin('ivy')).status, 302)
  t.equal((await h.gateway.store.sessionsOf('ivy', Date.now())).length, 1, 'recorded once the stall is over')
})

t.test('more session cookies in one request than a browser would send are refused', async (t) => {
  const { h } = await setup(t, 'fail-open')
  const cookie = Array.from({ length: 9 }, (_, i) => `sessionid=v${i}`).join('; ')
  const r = await h.device().send('/status/200', { headers: { cookie } })
  t.equal(r.status, 400)
  t.match(r.text, /SESSIONCAP_ERR_TOO_MANY_SESSION_COOKIES/)
})

t.test('a Redis that may evict keys with an expiry is reported', async (t) => {
  const redis = await startRedis(t, { persistent: false, args: ['--maxmemory-policy', 'volatile-lru'] })
  const h = await startHarness(t, { yaml: storeYaml(redis, 'fail-open'), realClock: true })
  await waitForLog(h, /maxmemory-policy is volatile-lru/)
  t.pass('warned')
})

t.test('a gateway stopped while its subscriber is subscribing again stops cleanly', async (t) => {
  // After a reconnection ioredis sends SUBSCRIBE again by itself; a stop
  // before its answer rejected that command where nothing could catch it
  // (ioredis before 6.1, redis/ioredis#2187): an unhandled rejection, which
  // ends a Node process.
  const redis = await startRedis(t, { persistent: false })
  const relay = await startRelay(t, redis.port)
  const h = await startHarness(t, { yaml: storeYaml(relay, 'fail-open'), realClock: true })
  const SUBSCRIBE = /subscribe/i
  await relay.seen(SUBSCRIBE)
  relay.holdRepliesAfter(SUBSCRIBE)
  relay.dropAll()
  await relay.seen(SUBSCRIBE, 2)
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  await h.gateway.close()
  // A rejection nobody handles is reported after the microtasks of its turn.
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(unhandled.map((r) => (r as Error).message), [], 'no rejection went unhandled')
})

t.test('a gateway stopped during an outage says how many writes Redis never got', async (t) => {
  const { h, redis } = await setup(t, 'fail-open')
  const leaving = h.device()
  await leaving.formLogin('erin')
  await redis.kill()
  t.equal((await leaving.send('/admin/logout/', { method: 'POST' })).status, 302, 'logout answered during the outage')
  await h.gateway.close()
  t.match(h.logs.find((l) => /Redis never got/.test(l)), /"writesLost":1/, 'the lost logout is counted')
  await redis.start()
})
