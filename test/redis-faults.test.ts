import t, { type Test } from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { freePort, startRedis, type RedisServer } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'

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
  t.equal(h.logs.filter((l) => /Redis is unreachable/.test(l)).length, 1, 'the outage was logged once')
  t.equal(h.logs.filter((l) => /Redis is reachable again/.test(l)).length, 1, 'and its end once')
  t.match(h.logs.find((l) => /reachable again/.test(l)), /"loginsNotRecorded":1/)

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
  t.equal(h.logs.filter((l) => /Redis is unreachable/.test(l)).length, 1)

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
