import t from 'tap'
import { startHarness, type Harness } from './helpers/harness.js'
import { REMEMBER_COOKIE, startLaravel } from './helpers/framework-laravel.js'
import type { Answer, Device } from './helpers/client.js'

/**
 * preset: laravel against a real Laravel 8 app (test/fixtures/laravel, on
 * Debian's php-laravel-framework): Breeze's sign-in controller, file
 * sessions, the `web` middleware group, "remember me", and a `/api/me` that
 * answers from the session. The YAML is what a user writes: the preset and a
 * limit; then `login: auto` with a whoami (what the preset needs to be safe,
 * and to see remember-me sign-ins); then `ended.upstreamLogout`.
 */

const SESSION = 'laravel_session'
const FAILED = 'These credentials do not match our records.'
const MIN = 60_000

/** Signs in through the login form as a browser does: the page first (session and CSRF token), then the POST with its Referer. */
async function signIn (d: Device, email: string, password: string, opts: { remember?: boolean, referer?: string } = {}): Promise<Answer> {
  const page = await d.send('/login')
  const token = /name="_token" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  const form: Record<string, string> = { _token: token, email, password }
  if (opts.remember === true) form.remember = 'on'
  return await d.send('/login', { form, headers: { referer: d.base + (opts.referer ?? '/login') } })
}

/** Who the app says this device is: the e-mail, or the status the gateway or app answered. */
async function me (d: Device): Promise<string | number> {
  const r = await d.send('/api/me', { headers: { accept: 'application/json' } })
  return r.status === 200 ? (r.json() as { user: string }).user : r.status
}

async function sessions (h: Harness, user: string): Promise<number> {
  return (await h.gateway.store.sessionsOf(user, h.clock.now())).length
}

t.test('Laravel 8 with preset: laravel', async (t) => {
  const app = await startLaravel(t)
  t.comment(`Laravel ${app.version}`)
  const h = await startHarness(t, { upstream: app.url, yaml: 'preset: laravel\nlimit: 1\n' })

  t.test('two logins with limit 1 end the first; its session and remember-me cookies are cleared', async (t) => {
    const laptop = h.device('browser')
    const login = await signIn(laptop, 'alice@example.com', 'pw-alice', { remember: true })
    t.equal(login.status, 302, 'Laravel signed alice in')
    t.equal(login.headers.location, `${h.base}/dashboard`)
    t.ok(laptop.jar.has(SESSION))
    t.ok(laptop.jar.has(REMEMBER_COOKIE), 'with a remember-me cookie')
    t.equal((await laptop.send('/dashboard')).status, 200, 'the dashboard is open to her')
    h.clock.advance(MIN)

    const phone = h.device('browser')
    t.equal((await signIn(phone, 'alice@example.com', 'pw-alice')).status, 302)
    t.equal(await me(phone), 'alice@example.com')

    const ended = await laptop.send('/dashboard')
    t.equal(ended.status, 303, 'the first browser is refused')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/, 'and sent to the signed-out page')
    t.ok(ended.setCookies.some((c) => c.startsWith(`${SESSION}=;`)), 'its laravel_session is cleared')
    t.ok(ended.setCookies.some((c) => c.startsWith(`${REMEMBER_COOKIE}=;`)), 'and so is its remember-me cookie (session.alsoClear)')
    t.notOk(laptop.jar.has(SESSION))
    t.notOk(laptop.jar.has(REMEMBER_COOKIE))
    const signedOut = await laptop.send(String(ended.headers.location))
    t.equal(signedOut.status, 200)
    t.match(signedOut.text, /<a class="button" href="\/login">Sign in again<\/a>/, 'which links to the login page')
    t.match((await laptop.send('/login')).text, /name="_token"/, 'the login form (no remember-me cookie signs the browser straight back in)')
    t.equal(await sessions(h, 'alice@example.com'), 1)
  })

  t.test('Laravel re-encrypts laravel_session on every answer: 50 answers are one session, and it ends whole', async (t) => {
    const laptop = h.device('browser')
    await signIn(laptop, 'bob@example.com', 'pw-bob')
    const first = laptop.jar.get(SESSION) ?? ''
    const seen = new Set([first])
    for (let i = 0; i < 50; i++) {
      h.clock.advance(1_000)
      const r = await laptop.send(i % 2 === 0 ? '/dashboard' : '/api/me')
      if (r.status !== 200 || !r.setCookies.some((c) => c.startsWith(`${SESSION}=`))) t.fail(`answer ${i}: ${r.status}, ${r.setCookies.join(' | ')}`)
      seen.add(laptop.jar.get(SESSION) ?? '')
    }
    t.equal(seen.size, 51, 'every answer handed out a new laravel_session value')
    t.equal(await sessions(h, 'bob@example.com'), 1, 'all of them one session')
    const last = laptop.jar.get(SESSION) ?? ''

    h.clock.advance(MIN)
    const phone = h.device('browser')
    await signIn(phone, 'bob@example.com', 'pw-bob')
    t.equal(await me(phone), 'bob@example.com')
    t.equal(await sessions(h, 'bob@example.com'), 1)

    const ended = await laptop.send('/dashboard')
    t.equal(ended.status, 303, 'the cookie the first browser holds by now is refused')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/)
    const api = h.device('api')
    for (const [name, value] of Object.entries({ first, last })) {
      api.jar.set(SESSION, value)
      t.match((await api.send('/api/me')).json(), { error: 'session_ended', reason: 'concurrent_login_limit' }, `the ${name} cookie of that session is refused too`)
    }
  })

  t.test('a wrong password counts for nothing: Laravel sends it back to the form with a new session cookie', async (t) => {
    const before = await h.gateway.store.sessionsOf('alice@example.com', h.clock.now())
    t.equal(before.length, 1, 'alice is signed in on one device')
    const d = h.device('browser')
    const r = await signIn(d, 'alice@example.com', 'wrong')
    t.equal(r.status, 302, 'the same status as a success')
    t.equal(r.headers.location, `${h.base}/login`, 'back to the page it came from (its Referer)')
    t.ok(r.setCookies.some((c) => c.startsWith(`${SESSION}=`) && !c.startsWith(`${SESSION}=;`)), 'with a new laravel_session value')
    t.same(await h.gateway.store.sessionsOf('alice@example.com', h.clock.now()), before, 'not counted: alice\'s sessions are untouched')
    const page = await d.send('/login')
    t.match(page.text, FAILED, 'the form says why')
    t.match(page.text, 'value="alice@example.com"', 'and keeps the typed e-mail')

    // What back() does without a Referer: the last page Laravel showed this browser (a GET, not an XHR), the form.
    const noReferer = await d.send('/login', { form: { _token: /name="_token" value="([^"]+)"/.exec(page.text)?.[1] ?? '', email: 'alice@example.com', password: 'wrong' } })
    t.equal(noReferer.headers.location, `${h.base}/login`, 'without a Referer, back to the login page it showed last')
    t.equal(await me(d), 401)
  })

  t.test('without a whoami, a failed login sent back to another page passes for a success, and ends the user\'s session', async (t) => {
    h.clock.advance(MIN)
    const victim = h.device('browser')
    await signIn(victim, 'alice@example.com', 'pw-alice')
    t.equal(await me(victim), 'alice@example.com')
    h.clock.advance(MIN)
    // Laravel's back() follows the Referer the client sends: anyone can have a failure sent to /dashboard.
    const attacker = h.device('browser')
    const r = await signIn(attacker, 'alice@example.com', 'wrong', { referer: '/dashboard' })
    t.equal(r.status, 302)
    t.equal(r.headers.location, `${h.base}/dashboard`, 'the failure is sent where the Referer says')
    t.equal(await me(attacker), 401, 'Laravel signed nobody in')
    const ended = await victim.send('/api/me', { headers: { accept: 'application/json' } })
    t.match(ended.json(), { error: 'session_ended', reason: 'concurrent_login_limit' }, 'yet the gateway counted it as her login and ended her session: the preset needs a whoami')
  })

  t.test('without login: auto, a remember-me sign-in is not seen', async (t) => {
    h.clock.advance(MIN)
    const laptop = h.device('browser')
    await signIn(laptop, 'alice@example.com', 'pw-alice', { remember: true })
    laptop.jar.delete(SESSION) // the browser is closed: its session cookie goes, the remember-me cookie stays
    h.clock.advance(MIN)
    const phone = h.device('browser')
    await signIn(phone, 'alice@example.com', 'pw-alice')
    const back = await laptop.send('/dashboard')
    t.equal(back.status, 200, 'Laravel signs the laptop in again from its remember-me cookie')
    t.ok(back.setCookies.some((c) => c.startsWith(`${SESSION}=`)), 'in a new session')
    t.equal(await me(laptop), 'alice@example.com')
    t.equal(await me(phone), 'alice@example.com', 'and the phone is not ended: the gateway did not count that sign-in')
    t.equal(await sessions(h, 'alice@example.com'), 1, 'alice has two sessions in the app, one counted')
  })

  t.test('logout frees the slot', async (t) => {
    h.clock.advance(MIN)
    const d = h.device('browser')
    await signIn(d, 'bob@example.com', 'pw-bob', { remember: true })
    const dashboard = await d.send('/dashboard')
    const token = /name="_token" value="([^"]+)"/.exec(dashboard.text)?.[1] ?? ''
    const out = await d.send('/logout', { form: { _token: token } })
    t.equal(out.status, 302)
    t.equal(out.headers.location, h.base)
    t.ok(out.setCookies.some((c) => c.startsWith(`${REMEMBER_COOKIE}=`) && /max-age=0/i.test(c)), 'Laravel forgets its remember-me cookie')
    t.equal(await sessions(h, 'bob@example.com'), 0, 'the slot is free')
    t.equal(await me(d), 401)
    const again = h.device('browser')
    await signIn(again, 'bob@example.com', 'pw-bob')
    t.equal(await me(again), 'bob@example.com')
    t.equal(await sessions(h, 'bob@example.com'), 1)
  })
})

t.test('Laravel 8 with preset: laravel, login: auto and a whoami (/api/me)', async (t) => {
  const app = await startLaravel(t)
  const h = await startHarness(t, {
    upstream: app.url,
    yaml: 'preset: laravel\nlimit: 1\nlogin: auto\nwhoami: { path: /api/me, json: /user, caseInsensitive: true }\n'
  })

  t.test('a remember-me sign-in counts as a login and ends the oldest session', async (t) => {
    const laptop = h.device('browser')
    await signIn(laptop, 'alice@example.com', 'pw-alice', { remember: true })
    laptop.jar.delete(SESSION) // the browser is closed: its session cookie goes, the remember-me cookie stays
    h.clock.advance(MIN)
    const phone = h.device('browser')
    await signIn(phone, 'alice@example.com', 'pw-alice')
    t.equal(await me(phone), 'alice@example.com')
    h.clock.advance(MIN)

    const back = await laptop.send('/dashboard')
    t.equal(back.status, 200, 'Laravel signs the laptop in again from its remember-me cookie')
    t.equal(await me(laptop), 'alice@example.com')
    const admitted = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'login admitted' && l.user === 'alice@example.com')
    t.match(admitted.at(-1), { via: 'login: auto (whoami)', ended: [String] }, 'the gateway counted it, through the whoami, and ended one session')
    const ended = await phone.send('/dashboard')
    t.equal(ended.status, 303, 'and ended the phone, now the oldest session')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/)
    t.equal(await sessions(h, 'alice@example.com'), 1)
  })

  t.test('a wrong password counts for nothing, wherever Laravel sends it back', async (t) => {
    h.clock.advance(MIN)
    const victim = h.device('browser')
    await signIn(victim, 'bob@example.com', 'pw-bob')
    const before = await h.gateway.store.sessionsOf('bob@example.com', h.clock.now())
    t.equal(before.length, 1)
    for (const referer of ['/login', '/dashboard']) {
      h.clock.advance(MIN)
      const r = await signIn(h.device('browser'), 'bob@example.com', 'wrong', { referer })
      t.equal(r.headers.location, h.base + referer, `a failure sent back to ${referer}`)
      t.same(await h.gateway.store.sessionsOf('bob@example.com', h.clock.now()), before, 'is not counted: the whoami says nobody signed in')
    }
    t.equal(await me(victim), 'bob@example.com', 'bob\'s session is untouched')
  })

  // Issue #17: the gateway's whoami question is a request of the session like any other, and Laravel
  // ages the session's flash data on each: the error and the typed e-mail are gone before the browser comes back.
  t.test('a failed login keeps its error message and the typed e-mail', async (t) => {
    const d = h.device('browser')
    const r = await signIn(d, 'alice@example.com', 'wrong')
    t.equal(r.headers.location, `${h.base}/login`)
    const page = await d.send('/login')
    t.equal(page.status, 200)
    t.match(page.text, FAILED, 'the form says why')
    t.match(page.text, 'value="alice@example.com"', 'and keeps the typed e-mail')
  })

  // Issue #17 too: Laravel remembers the last page a browser GETs (`_previous.url`, where back() goes without a
  // Referer), and the whoami question is a GET of /api/me.
  t.test('a failed login from a browser that sends no Referer is sent back to the login page', async (t) => {
    const d = h.device('browser')
    const page = await d.send('/login')
    const token = /name="_token" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
    const r = await d.send('/login', { form: { _token: token, email: 'alice@example.com', password: 'wrong' } })
    t.equal(r.status, 302)
    t.equal(r.headers.location, `${h.base}/login`)
  })
})

t.test('Laravel 8 with preset: laravel and ended.upstreamLogout (its CSRF-protected POST /logout)', async (t) => {
  const app = await startLaravel(t)
  const h = await startHarness(t, {
    upstream: app.url,
    yaml: 'preset: laravel\nlimit: 1\nended:\n  upstreamLogout: { path: /logout, headers: { X-XSRF-TOKEN: "{cookie-decoded:XSRF-TOKEN}" } }\n'
  })
  /** Asks the app itself, past the gateway, who a cookie signs in. */
  const appSays = async (cookie: string): Promise<number> => (await fetch(`${app.url}/api/me`, { headers: { cookie, accept: 'application/json' } })).status

  t.test('Laravel logs a session out with the XSRF-TOKEN cookie, decoded, in X-XSRF-TOKEN (as axios sends it)', async (t) => {
    const d = h.device('browser')
    await signIn(d, 'bob@example.com', 'pw-bob')
    const cookie = `${SESSION}=${d.jar.get(SESSION) ?? ''}`
    const xsrf = d.jar.get('XSRF-TOKEN') ?? ''
    t.match(xsrf, /%3D$/, 'the cookie is percent-encoded, as Symfony writes every cookie')
    const raw = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie, 'x-xsrf-token': xsrf }, redirect: 'manual' })
    t.equal(raw.status, 419, 'as sent: "page expired", the token does not decrypt')
    const decoded = await fetch(`${app.url}/logout`, { method: 'POST', headers: { cookie, 'x-xsrf-token': decodeURIComponent(xsrf) }, redirect: 'manual' })
    t.equal(decoded.status, 302, 'decoded: logged out')
    t.equal(await appSays(cookie), 401, 'the session is gone from the app')
  })

  // {cookie:NAME} gives the cookie as the browser sent it, percent-encoded (Laravel answers 419); {cookie-decoded:NAME} as axios sends it.
  t.test('an ended session is logged out of Laravel too', async (t) => {
    const laptop = h.device('browser')
    await signIn(laptop, 'alice@example.com', 'pw-alice')
    const cookie = `${SESSION}=${laptop.jar.get(SESSION) ?? ''}`
    h.clock.advance(MIN)
    await signIn(h.device('browser'), 'alice@example.com', 'pw-alice')
    t.equal(await appSays(cookie), 200, 'the app still knows the laptop\'s session')
    t.equal((await laptop.send('/dashboard')).status, 303, 'the gateway refuses it')
    const deadline = Date.now() + 10_000
    while (!h.logs.some((l) => l.includes('ended.upstreamLogout: the')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    t.match(h.logs.join('\n'), /"msg":"ended.upstreamLogout: the app logged the ended session out"/)
    t.equal(await appSays(cookie), 401, 'and the app has dropped it')
  })
})
