import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

/**
 * Tricks with two values of the session cookie in one request: the app reads
 * one (the stand-in app the first), the gateway must not free, replace or
 * rotate the other on the strength of the app's answer.
 */
for (const policy of ['evict-idlest', 'reject-new'] as const) {
  t.test(`${policy}: logging in again behind a junk first cookie does not free the real session`, async (t) => {
    const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ${policy}\n` })
    const a = h.device()
    await a.formLogin('alice')
    const first = a.sessionCookie as string
    h.clock.advance(60_000)
    const b = h.device()
    await b.send('/admin/login/', { form: { username: 'alice', password: 'x' }, headers: { cookie: `sessionid=junk; sessionid=${first}` } })
    const second = b.sessionCookie
    h.clock.advance(60_000)
    const working = []
    for (const cookie of [first, second]) {
      const d = h.device()
      if (cookie !== undefined) d.jar.set('sessionid', cookie)
      if (await d.whoami() === 'alice') working.push(cookie)
    }
    t.equal(working.length, 1, 'only one of the two sessions works: the limit holds')
  })
}

t.test('a cleared cookie answering a request with two values ends nothing', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const cookie = a.sessionCookie as string
  // The app (first value wins) sees "junk", and answers /api/logout by clearing the cookie.
  const r = await h.device().send('/api/logout', { method: 'POST', headers: { cookie: `sessionid=junk; sessionid=${cookie}` } })
  t.equal(r.status, 200)
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'alice\'s session is still counted')
  t.equal(await a.whoami(), 'alice')
  await h.device().formLogin('alice')
  t.equal(await a.whoami(), 401, 'and a login elsewhere still ends it')
})

t.test('a logged-out cookie cannot come back (an app may still accept it)', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const cookie = a.sessionCookie as string
  await a.send('/admin/logout/', { method: 'POST' })
  const replay = h.device()
  replay.jar.set('sessionid', cookie)
  const r = await replay.send('/api/me')
  t.equal(r.status, 401)
  t.same(r.json(), { error: 'session_ended', reason: 'logged_out' })
  t.same(r.setCookies, [], 'no cookie is cleared: the device may hold a newer one by now')
})

t.test('an old cookie of a rotated session stays its session: counted, and ended with it', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const old = a.sessionCookie as string
  await a.send('/rotate', { method: 'POST' })
  t.equal((await h.gateway.store.check(h.gateway.context.hash(old), h.clock.now())).state, 'live', 'the old id is not forgotten')
  await h.device().formLogin('alice')
  const replay = h.device()
  replay.jar.set('sessionid', old)
  t.equal((await replay.send('/api/me')).status, 401, 'ending the session ended its old id')
})
