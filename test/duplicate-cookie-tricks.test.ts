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

t.test('a cleared cookie answering a request with two values ends the carried session rather than freeing it', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const cookie = a.sessionCookie as string
  // The app (first value wins) sees "junk", and answers /api/logout by clearing the cookie.
  const r = await h.device().send('/api/logout', { method: 'POST', headers: { cookie: `sessionid=junk; sessionid=${cookie}` } })
  t.equal(r.status, 200)
  t.match(await h.gateway.store.check(h.gateway.context.hash(cookie), h.clock.now()), { state: 'ended', reason: 'logged_out', user: 'alice' },
    'which cookie the app acted on cannot be known: the session is ended, never just forgotten')
  const echo = await a.send('/echo')
  t.equal((echo.json() as { headers: { cookie?: string } }).headers.cookie, 'csrftoken=abc', 'the app never sees it again (only the other cookie)')
})

t.test('a logged-out cookie cannot come back (an app may still accept it), yet never leaves a browser stuck', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const cookie = a.sessionCookie as string
  await a.send('/admin/logout/', { method: 'POST' })
  const replay = h.device()
  replay.jar.set('sessionid', cookie)
  replay.jar.set('theme', 'dark')
  const r = await replay.send('/echo')
  t.equal(r.status, 200, 'the request goes on, without the session: no redirect loop for apps that keep the cookie after logout')
  t.equal((r.json() as { headers: { cookie?: string } }).headers.cookie, 'theme=dark', 'the logged-out value was taken out')
  t.match(r.setCookies, [/^sessionid=; /], 'and the browser is asked to drop it')
  t.equal(replay.sessionCookie, undefined)
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

t.test('a rotation behind a junk duplicate cookie still follows the session', async (t) => {
  const h = await startHarness(t)
  const a = h.device()
  await a.formLogin('alice')
  const first = a.sessionCookie as string
  // The app reads the first value and rotates it; the junk second value must not stop the gateway following.
  const r = await h.device().send('/rotate', { method: 'POST', headers: { cookie: `sessionid=${first}; sessionid=junk` } })
  const rotated = (r.setCookies[0] ?? '').split(';')[0]?.split('=')[1] as string
  t.ok(rotated !== undefined && rotated !== first)
  await h.device().formLogin('alice')
  const d = h.device()
  d.jar.set('sessionid', rotated)
  t.equal(await d.whoami(), 401, 'ending the session ended its rotated cookie too')
})

t.test('reject-new: a logout carrying a stale second cookie still frees the user to sign in again', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: reject-new\n` })
  const a = h.device()
  await a.formLogin('alice')
  const cookie = a.sessionCookie as string
  await a.send('/admin/logout/', { method: 'POST', headers: { cookie: `sessionid=${cookie}; sessionid=stale` } })
  const b = h.device()
  t.equal((await b.formLogin('alice')).status, 302, 'not locked out')
  t.equal(await b.whoami(), 'alice')
})

t.test('logging out on an idle device does not end the active one elsewhere', async (t) => {
  const h = await startHarness(t)
  const laptop = h.device()
  await laptop.formLogin('alice')
  h.clock.advance(3 * 3_600_000)
  const phone = h.device()
  await phone.formLogin('alice')
  await laptop.send('/admin/logout/', { method: 'POST' })
  t.equal(await phone.whoami(), 'alice')
})
