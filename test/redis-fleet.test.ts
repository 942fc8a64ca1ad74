import t, { type Test } from 'tap'
import WebSocket from 'ws'
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
  // Gateway B cached the session as live; the promise is "within a second" (pub/sub), not "at once".
  const loggedOutAt = Date.now()
  let forwarded: string | undefined = cookie
  while (forwarded !== undefined && Date.now() - loggedOutAt < 1_000) {
    viaB.jar.set('sessionid', cookie)
    const echo = await viaB.send('/echo')
    forwarded = (echo.json() as { headers: { cookie?: string } }).headers.cookie
  }
  t.equal(forwarded, undefined, 'gateway B takes the logged-out cookie out within a second')
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

t.test('ended from the sessions page on one gateway: the other closes its WebSocket and tells the browser who ended it', async (t) => {
  const [a, b] = await fleet(t, 'limit: 2\n')
  const laptop = a.device('browser')
  await laptop.send('/admin/login/', { form: { username: 'alice', password: 'secret' }, headers: { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0' } })
  const ws = new WebSocket(a.base.replace(/^http/, 'ws') + '/ws', { headers: { cookie: `sessionid=${laptop.sessionCookie ?? ''}` } })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code: number) => { resolve(code) }) })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  const echo = new Promise<string>((resolve) => { ws.once('message', (d: Buffer) => { resolve(d.toString()) }) })
  ws.send('ping')
  t.equal(await echo, 'alice: ping', 'open on gateway A')

  const phone = b.device('browser')
  await phone.send('/admin/login/', { form: { username: 'alice', password: 'secret' }, headers: { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1' } })
  const page = await phone.send('/.sessioncap/sessions')
  t.match(page.text, /Firefox 133 on Windows 10/, 'gateway B lists the session signed in through A')
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  const done = await phone.send('/.sessioncap/sessions', { form: { csrf, action: 'end-others' } })
  t.equal(done.headers.location, '/.sessioncap/sessions?done=1')
  t.equal(await closed, 1008, 'gateway A closed the WebSocket of the session ended on B')

  const ended = await laptop.send('/')
  t.equal(ended.status, 303)
  const told = await a.device('browser').send(String(ended.headers.location))
  t.match(told.text, /Signed out from another device/)
  t.match(told.text, /Mobile Safari 17 on iOS 17\.1 \(Apple iPhone\)/, 'gateway A names the device that ended it on B')
})
