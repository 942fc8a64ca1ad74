import t, { type Test } from 'tap'
import { startFlashApp } from './fixtures/flash-app.mjs'
import { startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'

/**
 * Issue #17: asking the app who signed in (whoami) must not change what the
 * user sees. The stand-in app keeps one-request flash data in its session
 * and ages it on every request, like Laravel (test/fixtures/flash-app.mjs);
 * its whoami ages it too. See src/proxy/identification.ts for when the
 * gateway asks.
 */

const LOGIN_ROUTE = `session: { cookie: app_session, alsoClear: [remember_web] }
login:
  routes:
    - { method: POST, path: /login, user: { form: email }, failureRedirect: /login, caseInsensitive: true }
  auto: true
whoami: { path: /api/me, json: /user }
limit: 1
`
const ADOPT = `session: { cookie: app_session, alsoClear: [remember_web] }
login:
  - { method: POST, path: /login, user: { form: email }, failureRedirect: /login, caseInsensitive: true }
unknownSessions: adopt
whoami: { path: /api/me, json: /user }
limit: 1
`

async function start (t: Test, yaml: string): Promise<{ h: Harness, app: Awaited<ReturnType<typeof startFlashApp>> }> {
  const app = await startFlashApp()
  t.teardown(async () => { await app.close() })
  const h = await startHarness(t, { upstream: app.url, yaml })
  return { h, app }
}

async function signIn (d: Device, name: string, password = `pw-${name}`, remember = false): Promise<number> {
  await d.send('/login')
  const form: Record<string, string> = { email: `${name}@example.com`, password }
  if (remember) form.remember = 'on'
  return (await d.send('/login', { form })).status
}

const users = async (h: Harness, user: string): Promise<number> => (await h.gateway.store.sessionsOf(`${user}@example.com`, h.clock.now())).length

const REJECT_NEW = LOGIN_ROUTE.replace('limit: 1', 'limit: 1\npolicy: reject-new')

/**
 * `name` signed in on a laptop with "remember me", and a second browser
 * holding only that remember-me cookie: its next page signs it in silently.
 */
async function rememberedOnPhone (t: Test, name: string, yaml = REJECT_NEW): Promise<{ h: Harness, app: Awaited<ReturnType<typeof startFlashApp>>, laptop: Device, phone: Device }> {
  const { h, app } = await start(t, yaml)
  const laptop = h.device('browser')
  t.equal(await signIn(laptop, name, `pw-${name}`, true), 302, `${name} signed in on the laptop, remembered`)
  const phone = h.device('browser')
  phone.jar.set('remember_web', laptop.jar.get('remember_web') as string)
  return { h, app, laptop, phone }
}

for (const [name, yaml] of [['login: auto', LOGIN_ROUTE], ['unknownSessions: adopt', ADOPT]] as const) {
  t.test(`${name}: a failed login shows the app's error message and keeps the typed e-mail`, async (t) => {
    const { h, app } = await start(t, yaml)
    const d = h.device('browser')
    t.equal(await signIn(d, 'alice', 'wrong'), 302, 'the app redirects back to the form')
    const form = await d.send('/login')
    t.match(form.text, /These credentials do not match our records\./, 'the error the app flashed is shown')
    t.match(form.text, /value="alice@example\.com"/, 'and the typed e-mail is kept')
    t.equal(await users(h, 'alice'), 0, 'the wrong password counted for nothing')
    t.ok(app.counts.whoami > 0 || name === 'unknownSessions: adopt', 'the gateway did ask about the new cookies (after the page was shown)')
  })

  t.test(`${name}: a flash set by a signed-in user's form (POST, redirect) is shown`, async (t) => {
    const { h } = await start(t, yaml)
    const d = h.device('browser')
    t.equal(await signIn(d, 'bob'), 302)
    t.match((await d.send('/dashboard')).text, /Dashboard of bob/)
    t.equal((await d.send('/notes', { method: 'POST', form: { text: 'x' } })).status, 302)
    t.match((await d.send('/dashboard')).text, /<p class="status">Saved\.<\/p>/, 'the app\'s "Saved." is there')
  })
}

t.test('login: auto: a remember-me sign-in is still counted and ends the oldest session under limit 1; wrong passwords still count for nothing', async (t) => {
  const { h } = await start(t, LOGIN_ROUTE)
  const laptop = h.device('browser')
  t.equal(await signIn(laptop, 'alice', 'pw-alice', true), 302)
  t.match((await laptop.send('/dashboard')).text, /Dashboard of alice/)
  const remembered = laptop.jar.get('remember_web') as string
  h.clock.advance(60_000)

  // A second browser with only the remember-me cookie: the app signs it in silently on a page.
  const phone = h.device('browser')
  phone.jar.set('remember_web', remembered)
  t.match((await phone.send('/dashboard')).text, /Dashboard of alice/, 'signed in by remember-me')
  t.equal(await users(h, 'alice'), 1, 'counted: alice has one session')
  t.ok(h.logs.some((l) => /"via":"login: auto \(whoami\)".*"msg":"login admitted"/.test(l)), 'as a login found by whoami')
  const ended = await laptop.send('/dashboard')
  t.equal(ended.status, 303, 'the laptop, the oldest, is signed out')
  t.match(ended.headers.location, /^\/\.sessioncap\/ended/)

  const other = h.device('browser')
  t.equal(await signIn(other, 'alice', 'wrong'), 302)
  t.equal(await users(h, 'alice'), 1, 'a wrong password counted for nothing')
  t.match((await phone.send('/dashboard')).text, /Dashboard of alice/, 'and ended nothing')
})

t.test('the window: a new cookie in a redirect is identified after the one request that follows it, and that request\'s answer is withheld if the login is refused', async (t) => {
  const { h, app, laptop, phone } = await rememberedOnPhone(t, 'carol')
  t.match((await laptop.send('/dashboard')).text, /Dashboard of carol/)

  // Remember-me on a page that redirects: the new cookie comes in a redirect, so it awaits its question.
  const before = app.counts.whoami
  const redirect = await phone.send('/home')
  t.equal(redirect.status, 302, 'the redirect goes out as the app sent it')
  t.equal(app.counts.whoami, before, 'no question yet: the redirect\'s target is the browser\'s')
  const dashboardsBefore = app.counts.byPath['/dashboard'] ?? 0
  const target = await phone.send('/dashboard')
  t.equal(app.counts.byPath['/dashboard'], dashboardsBefore + 1, 'the one request in the window reached the app')
  t.equal(app.counts.whoami, before + 1, 'then the gateway asked, once')
  t.equal(target.status, 303, 'carol is over the limit (reject-new): that request\'s answer is replaced by the ended answer')
  t.notMatch(target.text, /Dashboard of carol/, 'the page never reached the browser')
  const next = await phone.send('/dashboard', { headers: { cookie: `app_session=${String(redirect.setCookies.find((c) => c.startsWith('app_session='))?.split(';')[0]?.slice('app_session='.length))}` } })
  t.equal(next.status, 303, 'the value is refused from then on, even sent again by hand')
  t.equal(app.counts.byPath['/dashboard'], dashboardsBefore + 1, 'and never reaches the app again')
  t.equal(await users(h, 'carol'), 1, 'carol keeps her one session')
})

t.test('the window: parallel requests with a value awaiting its question share one question, and only one of them reaches the app first', async (t) => {
  const { app, phone } = await rememberedOnPhone(t, 'dave')
  const redirect = await phone.send('/home')
  t.equal(redirect.status, 302)
  const before = { whoami: app.counts.whoami, dashboard: app.counts.byPath['/dashboard'] ?? 0 }
  const answers = await Promise.all(Array.from({ length: 8 }, async () => await phone.send('/dashboard')))
  t.comment(JSON.stringify({ whoami: app.counts.whoami - before.whoami, dashboards: (app.counts.byPath['/dashboard'] ?? 0) - before.dashboard }))
  t.equal(app.counts.whoami - before.whoami, 1, 'one question for eight requests')
  t.ok((app.counts.byPath['/dashboard'] ?? 0) - before.dashboard <= 1, 'at most one of them reached the app before it')
  t.same(answers.map((a) => a.status), Array.from({ length: 8 }, () => 303), 'every one is answered as ended: dave is over the limit')
  t.notOk(answers.some((a) => /Dashboard of dave/.test(a.text)), 'no page of the refused session reached the browser')
})

t.test('unknownSessions: adopt: a session the gateway never saw is identified after its first request, and counted', async (t) => {
  const app = await startFlashApp()
  t.teardown(async () => { await app.close() })
  // Signed in before the gateway was there.
  const direct = await fetch(`${app.url}/login`, { method: 'POST', body: new URLSearchParams({ email: 'erin@example.com', password: 'pw-erin' }), redirect: 'manual' })
  const cookie = (direct.headers.getSetCookie().find((c) => c.startsWith('app_session=')) ?? '').split(';')[0] as string
  const h = await startHarness(t, { upstream: app.url, yaml: ADOPT })
  const d = h.device('browser')
  d.jar.set('app_session', cookie.slice('app_session='.length))
  const before = app.counts.whoami
  t.match((await d.send('/dashboard')).text, /Dashboard of erin/, 'the first request goes through as it is')
  t.equal(app.counts.whoami, before + 1, 'then the gateway asked who it is')
  t.equal(await users(h, 'erin'), 1, 'and counts the session')
  t.match((await d.send('/dashboard')).text, /Dashboard of erin/)
  t.equal(app.counts.whoami, before + 1, 'once: its next value is a rotation of a known session')
})

t.test('login: auto: someone else signing in on a signed-in device through a redirect is asked about after the next request, though the app re-encrypts its cookie on every answer', async (t) => {
  // No listed route: the sign-in is found by whoami alone.
  const { h, app } = await start(t, 'session: { cookie: app_session }\nlogin: auto\nwhoami: { path: /api/me, json: /user }\nlimit: 1\n')
  const d = h.device('browser')
  t.equal(await signIn(d, 'frank'), 302)
  t.match((await d.send('/dashboard')).text, /Dashboard of frank/)
  t.equal(await users(h, 'frank'), 1, 'frank counted')
  // On the same browser, grace signs in: the answer redirects with a new cookie (a rotation of frank's tracked session).
  const before = app.counts.whoami
  t.equal((await d.send('/login', { form: { email: 'grace@example.com', password: 'pw-grace' } })).status, 302)
  t.equal(app.counts.whoami, before, 'not asked between the redirect and the browser\'s next request')
  t.match((await d.send('/dashboard')).text, /Dashboard of grace/, 'the browser\'s next request is answered (its answer sets yet another value)')
  t.equal(app.counts.whoami, before + 1, 'then asked, once')
  t.equal(await users(h, 'grace'), 1, 'grace is counted')
  t.equal(await users(h, 'frank'), 0, 'and frank\'s session on that browser is over (replaced)')
})

t.test('the window: after a refusal every value the session had in it is refused, also the one a redirect handed out meanwhile', async (t) => {
  const { h, app, phone } = await rememberedOnPhone(t, 'henry')
  const values: string[] = []
  const take = (r: { setCookies: string[] }): void => {
    for (const c of r.setCookies) {
      const v = c.split(';')[0]?.slice('app_session='.length) ?? ''
      if (c.startsWith('app_session=') && v !== '') values.push(v)
    }
  }
  take(await phone.send('/home'))
  // Two redirects in a row, then a page: the window's two requests, the question after the second.
  take(await phone.send('/home'))
  const last = await phone.send('/dashboard')
  take(last)
  t.equal(last.status, 303, 'henry is over the limit (reject-new): refused')
  t.equal(values.length, 2, 'the app handed out two values of that session (the third, in the refused answer, never reached the browser)')
  const dashboards = app.counts.byPath['/dashboard'] ?? 0
  for (const v of values) {
    const d = h.device('api')
    d.jar.set('app_session', v)
    t.equal((await d.send('/dashboard')).status, 401, 'each value of it is refused')
  }
  t.equal(app.counts.byPath['/dashboard'] ?? 0, dashboards, 'none reaches the app')
})

t.test('the window: requests on the login path count in it too (a login page that redirects signed-in users cannot reset it)', async (t) => {
  const { h, app, phone } = await rememberedOnPhone(t, 'ivy')
  t.equal((await phone.send('/home')).status, 302, 'remember-me on a redirect: the new value awaits its question')
  const before = app.counts.whoami
  t.equal((await phone.send('/login')).status, 302, 'the login page sends a signed-in browser on (a new value, in a redirect)')
  t.equal(app.counts.whoami, before, 'one request of the window')
  const held = phone.jar.get('app_session') as string
  const second = await phone.send('/login')
  t.equal(app.counts.whoami, before + 1, 'the second: the window is over, the question is asked')
  t.equal(second.status, 303, 'ivy is over the limit (reject-new): refused')
  const again = h.device('api')
  again.jar.set('app_session', held)
  t.equal((await again.send('/dashboard')).status, 401, 'the value it held stays refused')
})

t.test('the window: requests waiting for a turn keep waiting while the next one is at the app, so the question never takes a flash meant for the page', async (t) => {
  const { h, app, phone } = await rememberedOnPhone(t, 'jack', LOGIN_ROUTE)
  t.equal((await phone.send('/home')).status, 302, 'a new value in a redirect: it awaits its question')
  // The window's first request saves a note (slowly): the app flashes "Saved." and redirects. Two more
  // requests for the redirect's target wait for it; one of them is the window's second, the other waits again.
  const first = phone.send('/slow-notes', { method: 'POST', form: { text: 'x' } })
  await new Promise((resolve) => setTimeout(resolve, 40))
  const pages = await Promise.all([phone.send('/dashboard'), phone.send('/dashboard')])
  t.equal((await first).status, 302)
  t.same(pages.map((p) => p.status), [200, 200])
  t.ok(pages.some((p) => /<p class="status">Saved\.<\/p>/.test(p.text)), 'the page after the redirect shows the flash: no question ran before it')
  t.equal(app.counts.whoamiDuringPage, 0, 'and none while a page was under way')
  t.equal(await users(h, 'jack'), 1, 'jack counted once')
})

t.test('unknownSessions: adopt: a remember-me sign-in is counted once its browser comes back with the new cookie, and ends the oldest session under limit 1; wrong passwords count for nothing', async (t) => {
  const { h, app, laptop, phone } = await rememberedOnPhone(t, 'kate', ADOPT)
  t.match((await laptop.send('/dashboard')).text, /Dashboard of kate/)
  h.clock.advance(60_000)
  t.match((await phone.send('/dashboard')).text, /Dashboard of kate/, 'signed in by remember-me (its new cookie is not known to the gateway yet)')
  const before = app.counts.whoami
  t.match((await phone.send('/dashboard')).text, /Dashboard of kate/, 'the browser\'s first request with it goes through as it is')
  t.equal(app.counts.whoami, before + 1, 'then the gateway asks who it is')
  t.equal(await users(h, 'kate'), 1, 'counted: kate has one session')
  t.ok(h.logs.some((l) => /"via":"unknownSessions: adopt".*"msg":"login admitted"/.test(l)), 'admitted as a session met for the first time')
  t.equal((await laptop.send('/dashboard')).status, 303, 'the laptop, the oldest, is signed out')
  t.equal(await signIn(h.device('browser'), 'kate', 'wrong'), 302)
  t.equal(await users(h, 'kate'), 1, 'a wrong password counted for nothing')
  t.match((await phone.send('/dashboard')).text, /Dashboard of kate/, 'and ended nothing')
})
