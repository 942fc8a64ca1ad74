import t, { type Test } from 'tap'
import { startHarness, type Harness } from './helpers/harness.js'
import { Device } from './helpers/client.js'
import { flaskLogin, flaskMe, startFlask } from './helpers/framework-flask.js'
import { makeCertificate } from './helpers/certificates.js'
import { H2Client } from './helpers/h2.js'

/**
 * preset: flask against a real Flask-Login app (test/fixtures/flask): a
 * CSRF-protected login form with "remember me", a page behind login, logout
 * and /api/me. Flask's session is a signed cookie: the app cannot revoke it,
 * so an ended session stays ended only because the gateway refuses it.
 *
 * One Flask serves every gateway below; each gateway has its own store, so
 * the users of one test are not counted by another.
 */

const WHOAMI = 'login: auto\nwhoami: { path: /api/me, json: /user }\n'

const session = (d: Device): string | undefined => d.jar.get('session')

/** Flask asked directly, bypassing the gateway, with these cookies. */
async function direct (url: string, cookies: Record<string, string>): Promise<string | number> {
  const d = new Device(url)
  for (const [name, value] of Object.entries(cookies)) d.jar.set(name, value)
  return await flaskMe(d)
}

/** A fresh browser that signs in (then, as a browser does, follows the redirect to the home page). */
async function signedIn (t: Test, h: Harness, user: string, opts: { remember?: boolean } = {}): Promise<Device> {
  const d = h.device('browser')
  const login = await flaskLogin(d, user, `pw-${user}`, opts)
  t.equal(login.status, 302, `Flask signed ${user} in`)
  t.equal(login.headers.location, '/')
  const home = await d.send('/')
  t.equal(home.status, 200)
  t.match(home.text, new RegExp(`Signed in as <strong>${user}</strong>`))
  return d
}

t.test('Flask-Login with preset: flask', async (t) => {
  const flask = await startFlask(t)
  t.comment(flask.version)

  t.test('two logins with limit 1 end the first; it is sent to the signed-out page, its cookies cleared', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: 'preset: flask\nlimit: 1\n' })
    const laptop = await signedIn(t, h, 'alice', { remember: true })
    t.ok(laptop.jar.get('remember_token'), 'the laptop holds Flask-Login\'s remember-me cookie')
    h.clock.advance(60_000)
    const phone = await signedIn(t, h, 'alice')

    const ended = await laptop.send('/')
    t.equal(ended.status, 303, 'the first browser is refused')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/, 'and sent to the signed-out page')
    t.ok(ended.setCookies.some((c) => c.startsWith('session=;')), 'its session cookie is cleared')
    t.ok(ended.setCookies.some((c) => c.startsWith('remember_token=;')), 'and its remember-me cookie (session.alsoClear)')
    t.equal(session(laptop), undefined)
    t.equal(laptop.jar.get('remember_token'), undefined)
    const signedOut = await laptop.send(String(ended.headers.location))
    t.equal(signedOut.status, 200)
    t.match(signedOut.text, /signed in on another device/, 'which says why')
    t.match(signedOut.text, /<a class="button" href="\/login">Sign in again<\/a>/, 'and links to the preset\'s login page')
    const back = await laptop.send('/')
    t.equal(back.status, 302, 'without its cookies the laptop is signed out of Flask')
    t.equal(back.headers.location, '/login?next=%2F')
    t.equal(await flaskMe(phone), 'alice', 'the phone is still signed in')
  })

  t.test('Flask re-signs its cookie when the session changes (the login\'s flash is shown): one session, every cookie of it ended together', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: 'preset: flask\nlimit: 1\n' })
    const laptop = h.device('browser')
    await flaskLogin(laptop, 'bob', 'pw-bob')
    const atLogin = session(laptop) ?? ''
    const home = await laptop.send('/')
    t.match(home.text, /Logged in successfully\./, 'the page shows the login\'s flashed message')
    t.match(home.setCookies, [/^session=/], 'and Flask sends the session without it: a new cookie')
    const rotated = session(laptop) ?? ''
    t.not(rotated, atLogin)
    t.same((await h.gateway.store.sessionsOf('bob', h.clock.now())).length, 1, 'still one session')
    t.ok(h.logs.some((l) => l.includes('"msg":"session id rotated by the app"')), 'followed as a rotation')
    t.same((await laptop.send('/')).setCookies, [], 'an unchanged session is not sent again')

    h.clock.advance(60_000)
    await signedIn(t, h, 'bob')
    t.equal(await direct(flask.url, { session: atLogin }), 'bob', 'Flask itself still honours the login\'s cookie (it cannot revoke it)')
    t.equal(await direct(flask.url, { session: rotated }), 'bob', 'and the rotated one')
    const old = h.device('browser')
    old.jar.set('session', atLogin)
    const refused = await old.send('/')
    t.equal(refused.status, 303, 'the gateway refuses the login\'s cookie')
    t.match(refused.headers.location, /^\/\.sessioncap\/ended\?n=/)
    t.equal((await laptop.send('/')).status, 303, 'and the rotated one')
  })

  t.test('over HTTP/2, a query string with raw bytes beyond ASCII is refused before Flask, as Node refuses it over HTTP/1.1; so is a login URL with a fragment', async (t) => {
    // Werkzeug reads the raw bytes of `?username=josé` as UTF-8 (josé); one
    // Latin-1 character per byte, as Node hands an HTTP/2 :path over, would
    // be `josÃ©` to the gateway: another account, a second session of josé's
    // under limit 1.
    const cert = makeCertificate(t.testdir(), 'gateway')
    const yaml = 'preset: flask\nlimit: 1\nlogin:\n  - { method: POST, path: /login, user: { form: username }, status: [302, 303], failureRedirect: /login }\n  - { method: POST, path: /login-values, user: { form: username }, status: [302, 303], failureRedirect: /login }\n'
    const h = await startHarness(t, { upstream: flask.url, yaml, listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true`, ca: cert.pem })
    const laptop = h.device('browser')
    t.equal((await flaskLogin(laptop, 'josé', 'pw-jose')).status, 302, 'josé signs in (his name percent-encoded, as browsers send it)')
    t.equal(await flaskMe(laptop), 'josé')
    const phone = h.device('browser')
    const token = /name="csrf_token" value="([^"]+)"/.exec((await phone.send('/login')).text)?.[1] ?? ''
    const reached = (): number => flask.output().split('POST /login-values').length - 1
    const before = reached()
    const client = await H2Client.open(t, h.base, cert.pem)
    const send = async (path: string): Promise<number> => (await client.send(path, {
      headers: { cookie: `session=${session(phone) ?? ''}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf_token: token, password: 'pw-jose' }).toString()
    })).status
    t.equal(await send(Buffer.from('/login-values?username=josé', 'utf8').toString('latin1')), 400, 'the raw bytes are refused')
    t.equal(reached(), before, 'Flask never saw them')
    t.equal(await flaskMe(laptop), 'josé', 'the laptop is still signed in')
    for (const fragment of ['/login-values?username=jos%C3%A9#x', '/login-values#?username=jos%C3%A9']) {
      // Werkzeug reads the query up to the '#' (josé, or no query at all); the gateway would have read "josé#x", or josé.
      t.equal(await send(fragment), 400, `a fragment, which no browser sends, is refused: ${fragment}`)
    }
    t.equal(reached(), before, 'Flask never saw them')
    t.equal(await send('/login-values?username=jos%C3%A9'), 302, 'percent-encoded, the same sign-in reaches Flask')
    t.equal((await h.gateway.store.sessionsOf('josé', h.clock.now())).length, 1, 'counted as josé\'s: one session under limit 1')
    t.equal((await laptop.send('/')).status, 303, 'the laptop\'s session was ended for it')
  })

  t.test('a wrong password counts for nothing (Flask flashes it and redirects back to /login with a new cookie)', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: 'preset: flask\nlimit: 1\n' })
    const alice = await signedIn(t, h, 'alice')
    const before = await h.gateway.store.sessionsOf('alice', h.clock.now())
    t.equal(before.length, 1)

    const d = h.device('browser')
    const r = await flaskLogin(d, 'alice', 'wrong')
    t.equal(r.status, 302)
    t.equal(r.headers.location, '/login', 'back to the form')
    t.match(r.setCookies, [/^session=/], 'with a new session cookie: the flashed message')
    const form = await d.send('/login')
    t.match(form.text, /Invalid username or password\./)
    t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), before, 'alice\'s sessions are untouched')
    t.equal(await flaskMe(d), 401, 'the browser is not signed in')
    t.equal(await flaskMe(alice), 'alice', 'and alice\'s session still works')

    const noToken = await h.device('browser').send('/login', { form: { username: 'alice', password: 'pw-alice' } })
    t.equal(noToken.status, 400, 'a login without the CSRF token is refused by Flask-WTF')
    t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), before, 'and counts for nothing')
  })

  t.test('logout frees the slot; the logged-out cookie, which Flask would still honour, is not let back', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: 'preset: flask\nlimit: 1\n' })
    const d = await signedIn(t, h, 'carol', { remember: true })
    const cookie = session(d) ?? ''
    const out = await d.send('/logout')
    t.equal(out.status, 302)
    t.equal(out.headers.location, '/login')
    t.ok(out.setCookies.some((c) => c.startsWith('remember_token=;')), 'Flask-Login clears its remember-me cookie')
    t.ok(session(d) !== undefined && session(d) !== cookie, 'Flask sends a new, signed-out session cookie rather than clearing it (the CSRF token and the flash stay in it)')
    t.same(await h.gateway.store.sessionsOf('carol', h.clock.now()), [], 'the slot is free')

    t.equal(await direct(flask.url, { session: cookie }), 'carol', 'Flask itself still signs the old cookie in')
    const replay = h.device('browser')
    replay.jar.set('session', cookie)
    t.equal(await flaskMe(replay), 401, 'through the gateway it is taken out of the request')

    const next = h.device('browser')
    await flaskLogin(next, 'carol', 'pw-carol')
    t.ok(h.logs.some((l) => /"msg":"login admitted"/.test(l) && /"user":"carol"/.test(l) && /"ended":\[\]/.test(l)), 'the next login ended nothing')
  })

  t.test('the preset alone does not see what Flask signs in away from POST /login: a whoami is needed', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: 'preset: flask\nlimit: 1\n' })
    const laptop = await signedIn(t, h, 'alice', { remember: true })
    const remember = laptop.jar.get('remember_token') ?? ''
    h.clock.advance(60_000)
    const phone = await signedIn(t, h, 'alice')
    t.equal((await laptop.send('/')).status, 303, 'the laptop is ended')

    // A client that keeps the remember-me cookie the gateway cleared: Flask-Login signs it in with a new session.
    const kept = h.device('browser')
    kept.jar.set('remember_token', remember)
    const back = await kept.send('/')
    t.equal(back.status, 200, 'Flask signs the remember-me cookie in')
    t.match(back.setCookies, [/^session=/], 'with a new session cookie on a page that is no login route')
    const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
    t.equal(sessions.length, 1, 'alice has one session at the gateway (the phone\'s)')
    t.notOk(sessions.some((s) => s.id === h.gateway.context.hash(session(kept) ?? '')), 'the new one is not counted: alice is signed in twice')
    t.equal(await flaskMe(phone), 'alice', 'both signed in')

    // A login redirected to the form page (?next=/login passes the usual "same site" check) looks like a failure.
    const steered = h.device('browser')
    const login = await flaskLogin(steered, 'bob', 'pw-bob', { next: '/login' })
    t.equal(login.status, 302)
    t.equal(login.headers.location, '/login')
    t.equal(await flaskMe(steered), 'bob', 'Flask signed bob in')
    t.same(await h.gateway.store.sessionsOf('bob', h.clock.now()), [], 'uncounted')
  })

  t.test('with login: auto and a whoami, both are logins', async (t) => {
    const h = await startHarness(t, { upstream: flask.url, yaml: `preset: flask\nlimit: 1\n${WHOAMI}` })
    const laptop = await signedIn(t, h, 'alice', { remember: true })
    const remember = laptop.jar.get('remember_token') ?? ''
    h.clock.advance(60_000)
    const phone = await signedIn(t, h, 'alice', { remember: true })
    t.equal(phone.jar.get('remember_token'), remember, 'Flask-Login\'s remember-me cookie is the user\'s, not the device\'s: the same on both')

    const ended = await laptop.send('/')
    t.equal(ended.status, 303, 'the laptop is ended')
    t.ok(ended.setCookies.some((c) => c.startsWith('remember_token=;')), 'and its remember-me cookie cleared')
    t.equal((await laptop.send('/')).status, 302, 'so it does not come back by itself')

    h.clock.advance(60_000)
    const kept = h.device('browser')
    kept.jar.set('remember_token', remember)
    const back = await kept.send('/')
    t.equal(back.status, 200, 'Flask signs a kept remember-me cookie in')
    const sessions = await h.gateway.store.sessionsOf('alice', h.clock.now())
    t.same(sessions.map((s) => s.id), [h.gateway.context.hash(session(kept) ?? '')], 'as a login, under the limit: alice\'s one session')
    t.ok(h.logs.some((l) => /"via":"login: auto \(whoami\)"/.test(l) && /"msg":"login admitted"/.test(l)), 'found by whoami')
    t.equal((await phone.send('/')).status, 303, 'which ended the phone, the oldest')
    t.equal(await flaskMe(kept), 'alice')

    const steered = h.device('browser')
    t.equal((await flaskLogin(steered, 'bob', 'pw-bob', { next: '/login' })).headers.location, '/login')
    // A new cookie in a redirect is asked about once the browser's next request is answered (issue #17).
    await steered.send('/login')
    const bobs = await h.gateway.store.sessionsOf('bob', h.clock.now())
    t.same(bobs.map((s) => s.id), [h.gateway.context.hash(session(steered) ?? '')], 'a login redirected to /login is counted')

    const before = await h.gateway.store.sessionsOf('bob', h.clock.now())
    const wrong = h.device('browser')
    t.equal((await flaskLogin(wrong, 'bob', 'wrong')).headers.location, '/login')
    await wrong.send('/login')
    t.same(await h.gateway.store.sessionsOf('bob', h.clock.now()), before, 'a wrong password still counts for nothing (whoami says nobody)')
  })
})
