import t from 'tap'
import { startHarness } from './helpers/harness.js'

t.test('a form login is counted for the user it names', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device('browser')
  const r = await laptop.formLogin('alice')
  t.equal(r.status, 302, 'the app answer reaches the client')
  t.ok(laptop.sessionCookie, 'the client keeps the app\'s session cookie')
  const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.equal(sessions.length, 1, 'one session tracked for alice')
  t.not(sessions[0]?.id, laptop.sessionCookie, 'the store holds a hash, not the cookie')
  t.equal(await laptop.whoami(), 'alice')
})

t.test('a failed login counts for nothing', async (t) => {
  const h = await startHarness(t)
  const r = await h.device('browser').formLogin('alice', 'wrong')
  t.equal(r.status, 200, 'the app re-renders its form')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [])
})
