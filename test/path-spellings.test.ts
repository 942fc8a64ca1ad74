/**
 * Issue #12: IIS (Windows) drops trailing dots and spaces from each path
 * segment, so `/admin/login./` reaches the login view there. The gateway
 * must match such spellings to the login and logout routes, or a login
 * under one of them would go uncounted.
 */
import t from 'tap'
import { startHarness } from './helpers/harness.js'

const LOGIN_SPELLINGS = ['/admin/login./', '/admin/login%20/', '/admin/login.%20./', '/Admin./LOGIN%20.', '/admin/login.']

t.test('a login at a spelling with trailing dots or spaces (IIS) is counted', async (t) => {
  for (const spelling of LOGIN_SPELLINGS) {
    const h = await startHarness(t, { appOptions: { iisPaths: true } })
    const laptop = h.device()
    const r = await laptop.send(spelling, { form: { username: 'alice', password: 'secret' } })
    t.equal(r.status, 302, `${spelling}: the app's login view answered`)
    t.ok(laptop.sessionCookie, `${spelling}: the client has a session cookie`)
    const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
    t.equal(sessions.length, 1, `${spelling}: counted for alice`)
  }
})

t.test('a login at /admin/login./ counts against the limit like any other', async (t) => {
  const h = await startHarness(t, { appOptions: { iisPaths: true } })
  const laptop = h.device()
  await laptop.formLogin('alice')
  await h.device().send('/admin/login%20/', { form: { username: 'alice', password: 'secret' } })
  t.equal(await laptop.whoami(), 401, 'the first session was ended by the second login (limit 1)')
})

t.test('a logout at a spelling with trailing dots or spaces (IIS) ends the session', async (t) => {
  for (const spelling of ['/admin/logout./', '/admin/logout%20/', '/admin/logout.%20./', '/ADMIN/logout.']) {
    // This app's logout does not clear the session cookie: only the logout route can tell the gateway.
    const h = await startHarness(t, { appOptions: { iisPaths: true, sessionClearHeader: 'csrftoken=; Path=/' } })
    const laptop = h.device()
    await laptop.formLogin('alice')
    const cookie = laptop.sessionCookie as string
    const r = await laptop.send(spelling, { method: 'POST' })
    t.equal(r.status, 302, `${spelling}: the app's logout view answered`)
    t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], `${spelling}: no session left for alice`)
    t.equal((await h.gateway.store.check(h.gateway.context.hash(cookie), h.clock.now())).state, 'ended', `${spelling}: the session is ended`)
  }
})
