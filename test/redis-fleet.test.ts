import t, { type Test } from 'tap'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'
import type { Device } from './helpers/client.js'

const redis = await startRedis(t, { persistent: false })

/** Two gateways in front of one app, sharing one Redis (as behind a load balancer). */
async function fleet (t: Test, extra = ''): Promise<[Harness, Harness]> {
  const yaml = `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}" }\n${extra}`
  const a = await startHarness(t, { yaml, realClock: true })
  const b = await startHarness(t, { yaml, realClock: true, app: a.app })
  return [a, b]
}

for (const policy of ['evict-idlest', 'reject-new'] as const) {
  t.test(`50 simultaneous logins of one user over two gateways leave exactly 2 sessions (${policy}), every time`, async (t) => {
    const [a, b] = await fleet(t, `limit: 2\npolicy: ${policy}\n`)
    for (let round = 0; round < 5; round++) {
      const user = `storm-${round}`
      const devices: Device[] = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).device())
      await Promise.all(devices.map(async (d) => await d.formLogin(user)))
      // Ask through the other gateway than the one each device logged in through.
      const who = await Promise.all(devices.map(async (d, i) => {
        if (d.sessionCookie === undefined) return 'no cookie'
        const other = (i % 2 === 0 ? b : a).device()
        other.jar.set('sessionid', d.sessionCookie)
        return await other.whoami()
      }))
      t.equal(who.filter((w) => w === user).length, 2, `round ${round}: exactly 2 devices signed in`)
      t.equal((await a.gateway.store.sessionsOf(user, Date.now())).length, 2, `round ${round}: Redis tracks exactly 2`)
    }
  })
}

t.test('a session ended through one gateway is refused by the other within a second, though it had seen it', async (t) => {
  const [a, b] = await fleet(t)
  const laptop = a.device()
  await laptop.formLogin('alice')
  const viaB = b.device()
  viaB.jar.set('sessionid', laptop.sessionCookie as string)
  t.equal(await viaB.whoami(), 'alice', 'gateway B knows the session (and caches it)')
  t.equal(await viaB.whoami(), 'alice')

  const endedAt = Date.now()
  await a.device().formLogin('alice')
  let refusedAfter = -1
  while (Date.now() - endedAt < 3_000) {
    if (await viaB.whoami() === 401) { refusedAfter = Date.now() - endedAt; break }
    viaB.jar.set('sessionid', laptop.sessionCookie as string)
  }
  t.ok(refusedAfter >= 0 && refusedAfter < 1_000, `refused by gateway B ${refusedAfter} ms after the login through A`)
  t.comment(`cross-gateway ending took ${refusedAfter} ms`)
})

t.test('a logout through one gateway ends the session on the other', async (t) => {
  const [a, b] = await fleet(t)
  const d = a.device()
  await d.formLogin('alice')
  const cookie = d.sessionCookie as string
  const viaB = b.device()
  viaB.jar.set('sessionid', cookie)
  t.equal(await viaB.whoami(), 'alice')
  await d.send('/admin/logout/', { method: 'POST' })
  const echo = await viaB.send('/echo')
  t.equal((echo.json() as { headers: { cookie?: string } }).headers.cookie, undefined, 'gateway B takes the logged-out cookie out')
})

t.test('rotation through one gateway is followed by the other', async (t) => {
  const [a, b] = await fleet(t)
  const d = a.device()
  await d.formLogin('alice')
  await d.send('/rotate', { method: 'POST' })
  const viaB = b.device()
  viaB.jar.set('sessionid', d.sessionCookie as string)
  t.equal(await viaB.whoami(), 'alice')
  await b.device().formLogin('alice')
  t.equal(await d.whoami(), 401, 'a login through B ended the session rotated through A')
})
