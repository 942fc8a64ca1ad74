import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

t.test('at store.maxEnded a new sign-in is refused with 503 and its cookie withheld; every ended session stays refused', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}store: { maxEnded: 3 }\n` })
  // One scripted account signing in again and again: each login ends the one before.
  const cookies: string[] = []
  for (let i = 0; i < 4; i++) {
    const d = h.device()
    t.equal((await d.formLogin('mallory')).status, 302)
    cookies.push(d.sessionCookie as string)
    h.clock.advance(1_000)
  }
  t.equal((await h.gateway.store.stats(h.clock.now())).ended, 3)

  const alice = h.device()
  const refused = await alice.formLogin('alice')
  t.equal(refused.status, 503)
  t.match(refused.text, /SESSIONCAP_ERR_STORE_FULL/)
  t.equal(refused.headers['retry-after'], '60')
  t.same(refused.setCookies, [], 'the app\'s new cookie never reached the client')
  t.equal(alice.sessionCookie, undefined)
  t.ok(h.logs.some((l) => /holds store.maxEnded ended sessions: new sign-ins are refused/.test(l)), 'the operator is told why')

  for (const cookie of cookies.slice(0, 3)) {
    const d = h.device()
    d.jar.set('sessionid', cookie)
    t.equal(await d.whoami(), 401, 'an ended session is never forgotten to make room')
  }
  const last = h.device()
  last.jar.set('sessionid', cookies[3] as string)
  t.equal(await last.whoami(), 'mallory', 'the live session still works')
})
