import t from 'tap'
import { startHarness } from './helpers/harness.js'

t.test('a logout route frees the slot', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  const r = await laptop.send('/admin/logout/', { method: 'POST' })
  t.equal(r.status, 302)
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'no session left for alice')
  const phone = h.device()
  await phone.formLogin('alice')
  t.equal(await phone.whoami(), 'alice')
  t.ok(h.logs.some((l) => /"ended":\[\],"msg":"login admitted"/.test(l)), 'the new login had to end nothing')
})

t.test('any response that clears the session cookie frees the slot (no logout route needed)', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.apiLogin('alice@example.com')
  const r = await laptop.send('/api/logout', { method: 'POST' })
  t.equal(r.status, 200)
  t.match(r.setCookies, [/^sessionid=""; expires=Thu, 01 Jan 1970/], 'the app cleared the cookie itself')
  t.same(await h.gateway.store.sessionsOf('alice@example.com', h.clock.now()), [])
  const phone = h.device()
  await phone.apiLogin('alice@example.com')
  t.equal(await phone.whoami(), 'alice@example.com')
  t.ok(h.logs.some((l) => /"ended":\[\],"msg":"login admitted"/.test(l) && /alice@example.com/.test(l)), 'the new login had to end nothing')
})

t.test('a failed logout (error status) keeps the slot', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username } }
logout:
  - { path: /status/500 }
` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const r = await laptop.send('/status/500')
  t.equal(r.status, 500)
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1)
})

t.test('logging out does not bring an ended session back', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie as string
  await h.device().formLogin('alice')
  const r = await laptop.send('/admin/logout/', { method: 'POST', headers: { cookie: `sessionid=${cookie}` } })
  t.equal(r.status, 401, 'the logout request itself is refused: the session is already over')
  t.equal((await h.gateway.store.check(h.gateway.context.hash(cookie), h.clock.now())).state, 'ended')
})
