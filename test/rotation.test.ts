import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix } from './helpers/redis-config.js'
import { shortId } from '../src/domain/session.js'

const MIN = 60_000

t.test('when the app rotates the session id, the new cookie takes over the old slot', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  const before = laptop.sessionCookie
  const [tracked] = await h.gateway.store.sessionsOf('alice', h.clock.now())
  h.clock.advance(MIN)

  const r = await laptop.send('/rotate', { method: 'POST' })
  t.equal(r.status, 200)
  t.not(laptop.sessionCookie, before, 'the app gave a new cookie')
  t.equal(await laptop.whoami(), 'alice', 'still signed in with the new cookie')

  const after = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(after.length, 1, 'still one slot, not two')
  t.equal(after[0]?.id, tracked?.id, 'the same session (known by its first id)')
  t.equal(after[0]?.createdAt, tracked?.createdAt, 'with its original login time')
  t.match(await h.gateway.store.check(h.gateway.context.hash(laptop.sessionCookie as string), h.clock.now()), { state: 'live', slot: tracked?.id }, 'the new cookie is that session')

  // The slot really moved: a login elsewhere ends the rotated session.
  const phone = h.device()
  await phone.formLogin('alice')
  t.equal(await laptop.whoami(), 401, 'the rotated session is the one that was counted, and it is ended')
})

t.test('the same device logging in again replaces its own slot', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username } }
policy: reject-new
` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const again = await laptop.formLogin('alice')
  t.equal(again.status, 302, 'not refused, even under reject-new with limit 1')
  t.equal(await laptop.whoami(), 'alice')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1)
})

t.test('a re-login that keeps the same cookie (no rotation) changes nothing', async (t) => {
  const h = await startHarness(t, { appOptions: { rotateOnLogin: false } })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie
  await laptop.formLogin('alice')
  t.equal(laptop.sessionCookie, cookie, 'the app re-sent the same cookie')
  t.equal(await laptop.whoami(), 'alice')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1)
})

t.test('signing in as someone else on the same device frees the first user\'s slot', async (t) => {
  const h = await startHarness(t)
  const shared = h.device()
  await shared.formLogin('alice')
  await shared.formLogin('bob')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'alice no longer has a session here')
  t.equal((await h.gateway.store.sessionsOf('bob', h.clock.now())).length, 1)
  const alicePhone = h.device()
  await alicePhone.formLogin('alice')
  t.equal(await shared.whoami(), 'bob', 'bob is not affected by alice signing in elsewhere')
})

t.test('an id rotated after its session was ended is ended too', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  const oldCookie = laptop.sessionCookie as string
  // Between the laptop's request check and the app's answer, the session is
  // ended by a login elsewhere: simulate by ending it, then rotating.
  await h.device().formLogin('alice')
  const id = h.gateway.context.hash(oldCookie)
  const result = await h.gateway.store.rotate(id, h.gateway.context.hash('rotated-value'), h.clock.now())
  t.same(result, { rotated: false, ended: true })
  const sneaky = h.device()
  sneaky.jar.set('sessionid', 'rotated-value')
  t.equal(await sneaky.whoami(), 401)
})

for (const storeKind of ['memory', 'redis'] as const) {
  t.test(`${storeKind}: the refused request's log line names the ended session as its ending did (its key, not the rotated cookie's id) and its user`, async (t) => {
    const redis = storeKind === 'redis' ? await startRedis(t) : undefined
    const store = redis === undefined ? '' : `secret: a-test-secret-of-at-least-32-characters\nstore: { type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}" }\n`
    const h = await startHarness(t, { yaml: APP_ROUTES + store })
    const laptop = h.device()
    await laptop.formLogin('alice')
    await laptop.send('/rotate', { method: 'POST' })
    const rotatedId = shortId(h.gateway.context.hash(laptop.sessionCookie as string))
    h.clock.advance(MIN)
    await h.device().formLogin('alice')
    const ending = h.logs.map((l) => JSON.parse(l) as { msg: string, user?: string, ended?: string[] }).find((l) => l.msg === 'login admitted' && l.ended !== undefined && l.ended.length > 0)
    const key = ending?.ended?.[0]
    t.ok(key, 'the login that ended it names the ended session')
    t.not(key, rotatedId, 'by its key, which is not the rotated cookie\'s id')

    t.equal(await laptop.whoami(), 401)
    const refused = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'refused a request carrying an ended session')
    t.match(refused, { session: key, user: 'alice', cookie: rotatedId, reason: 'concurrent_login_limit' }, 'the refusal names the same session, its user, and the cookie it came with')
  })
}

t.test('a login whose cookie value was already ended (a stateless cookie repeated byte for byte) is refused under any policy, and the log says so', async (t) => {
  // Like Flask signing the same session content within one second: the app hands out the very same value again.
  const h = await startHarness(t, { appOptions: { loginId: (user: string) => `same-value-for-${user}` } })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  t.equal(await laptop.whoami(), 'alice')
  await laptop.send('/admin/logout/')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'logged out: the value is ended')

  const again = await laptop.formLogin('alice')
  t.equal(again.status, 303, 'the new sign-in is not let through with the ended value')
  t.match(again.headers.location, /^\/\.sessioncap\/ended/, 'the browser is asked to sign in again')
  t.notOk(again.setCookies.some((c) => c.startsWith('sessionid=same-value')), 'the ended value is not handed back to the browser')
  t.ok(h.logs.some((l) => /"msg":"login refused: the app handed out a session value that was already ended/.test(l)), 'the log says what happened')
  t.notOk(h.logs.some((l) => /over the limit \(reject-new\)/.test(l)), 'and does not call it reject-new (the policy is evict-oldest)')
  laptop.jar.set('sessionid', 'same-value-for-alice')
  t.equal(await laptop.whoami(), 401, 'the value stays refused')
})
