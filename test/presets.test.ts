import t from 'tap'
import { startExpressApp } from './fixtures/express-app.mjs'
import { startHarness } from './helpers/harness.js'
import { startDjango, startPhp } from './helpers/frameworks.js'
import type { Answer, Device } from './helpers/client.js'

/**
 * The presets against the real frameworks: the YAML a user writes is the
 * preset and a limit, nothing else (the harness adds upstream and listen).
 */

async function djangoLogin (d: Device, user: string, password: string): Promise<Answer> {
  const page = await d.send('/admin/login/')
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  return await d.send('/admin/login/?next=/admin/', { form: { csrfmiddlewaretoken: token, username: user, password, next: '/admin/' } })
}

t.test('Django (the stock admin site) with preset: django', async (t) => {
  const django = await startDjango(t)
  t.comment(`Django ${django.version}`)
  const h = await startHarness(t, { upstream: django.url, yaml: 'preset: django\nlimit: 1\n' })

  t.test('two logins with limit 1 end the first; it is sent to the login page, its sessionid cleared', async (t) => {
    const laptop = h.device('browser')
    const login = await djangoLogin(laptop, 'alice', 'pw-alice')
    t.equal(login.status, 302, 'Django signed alice in')
    t.equal(login.headers.location, '/admin/')
    t.ok(laptop.sessionCookie)
    t.equal((await laptop.send('/admin/')).status, 200, 'the admin site is open to her')
    h.clock.advance(60_000)

    const phone = h.device('browser')
    t.equal((await djangoLogin(phone, 'alice', 'pw-alice')).status, 302)
    t.equal((await phone.send('/admin/')).status, 200)

    const ended = await laptop.send('/admin/')
    t.equal(ended.status, 303, 'the first browser is refused')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/, 'and sent to the signed-out page')
    t.match(ended.setCookies, [/^sessionid=; /], 'its sessionid is cleared')
    t.equal(laptop.sessionCookie, undefined)
    const signedOut = await laptop.send(String(ended.headers.location))
    t.equal(signedOut.status, 200)
    t.match(signedOut.text, /signed in on another device/, 'which says why')
    t.match(signedOut.text, /<a class="button" href="\/admin\/login\/">Sign in again<\/a>/, 'and links to the preset\'s login page')
    const page = await laptop.send('/admin/login/')
    t.equal(page.status, 200)
    t.match(page.text, /csrfmiddlewaretoken/, 'the login form')
  })

  t.test('logout frees the slot', async (t) => {
    const a = h.device('browser')
    await djangoLogin(a, 'bob', 'pw-bob')
    const out = await a.send('/admin/logout/')
    t.equal(out.status, 200, 'Django\'s "logged out" page')
    t.equal(a.sessionCookie, undefined, 'Django deleted the cookie')
    t.same(await h.gateway.store.sessionsOf('bob', h.clock.now()), [], 'the slot is free')
    const b = h.device('browser')
    await djangoLogin(b, 'bob', 'pw-bob')
    t.ok(h.logs.some((l) => /"user":"bob".*"ended":\[\],"msg":"login admitted"/.test(l) || /"ended":\[\].*"user":"bob"/.test(l)), 'the next login ended nothing')
  })

  t.test('a wrong password counts for nothing (Django answers 200 and starts no session)', async (t) => {
    const d = h.device('browser')
    const r = await djangoLogin(d, 'alice', 'wrong')
    t.equal(r.status, 200, 'Django shows the form again')
    t.equal(d.sessionCookie, undefined)
    const before = (await h.gateway.store.sessionsOf('alice', h.clock.now())).length
    t.equal(before, 1, 'alice still has exactly the one session from before')
  })
})

t.test('Express (express-session + passport-local) with preset: express-session', async (t) => {
  const app = await startExpressApp()
  t.teardown(async () => { await app.close() })
  const h = await startHarness(t, { upstream: app.url, yaml: 'preset: express-session\nlimit: 1\n' })
  const me = async (d: Device): Promise<string | number> => {
    const r = await d.send('/me')
    return r.status === 200 ? (r.json() as { username: string }).username : r.status
  }

  t.test('a form login', async (t) => {
    const laptop = h.device('browser')
    const r = await laptop.send('/login', { form: { username: 'alice', password: 'pw-alice' } })
    t.equal(r.status, 302)
    t.equal(r.headers.location, '/')
    t.equal(laptop.jar.has('connect.sid'), true)
    h.clock.advance(60_000)
    const phone = h.device('browser')
    await phone.send('/login', { form: { username: 'alice', password: 'pw-alice' } })
    t.equal(await me(phone), 'alice')
    const ended = await laptop.send('/me')
    t.equal(ended.status, 303)
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/)
  })

  t.test('a JSON login', async (t) => {
    const a = h.device()
    const r = await a.send('/login', { json: { username: 'bob', password: 'pw-bob' } })
    t.equal(r.status, 200)
    t.same(r.json(), { user: 'bob' })
    h.clock.advance(60_000)
    const b = h.device()
    await b.send('/login', { json: { username: 'bob', password: 'pw-bob' } })
    t.equal(await me(b), 'bob')
    t.same((await a.send('/me')).json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'concurrent_login_limit' })
  })

  t.test('a failed login counts for nothing, though it starts a session (passport redirects it back to /login)', async (t) => {
    const before = await h.gateway.store.sessionsOf('alice', h.clock.now())
    const d = h.device('browser')
    const r = await d.send('/login', { form: { username: 'alice', password: 'wrong' } })
    t.equal(r.status, 302)
    t.equal(r.headers.location, '/login?failed=1')
    t.ok(r.setCookies.some((c) => c.startsWith('connect.sid=')), 'the app started a session for the failure (its error message)')
    t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), before, 'not counted: alice\'s sessions are untouched')
  })

  t.test('logout frees the slot', async (t) => {
    const d = h.device('browser')
    await d.send('/login', { form: { username: 'bob', password: 'pw-bob' } })
    await d.send('/logout', { method: 'POST' })
    t.same(await h.gateway.store.sessionsOf('bob', h.clock.now()), [])
  })
})

t.test('PHP (built-in sessions, session_regenerate_id on login) with preset: php', async (t) => {
  const php = await startPhp(t)
  t.comment(`PHP ${php.version}`)
  const h = await startHarness(t, { upstream: php.url, yaml: 'preset: php\nlimit: 1\n' })
  const me = async (d: Device): Promise<string | number> => {
    const r = await d.send('/index.php')
    return r.status === 200 ? (r.json() as { username: string }).username : r.status
  }
  const laptop = h.device('browser')
  await laptop.send('/login.php')
  const login = await laptop.send('/login.php', { form: { username: 'alice', password: 'pw-alice' } })
  t.equal(login.status, 302)
  t.equal(await me(laptop), 'alice')
  h.clock.advance(60_000)
  const phone = h.device('browser')
  await phone.send('/login.php', { form: { username: 'alice', password: 'pw-alice' } })
  t.equal(await me(phone), 'alice')
  const ended = await laptop.send('/index.php')
  t.equal(ended.status, 303)
  t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/)

  // A fresh browser (no cookie yet): PHP starts a session while failing the login.
  const failed = h.device('browser')
  const r = await failed.send('/login.php', { form: { username: 'alice', password: 'wrong' } })
  t.equal(r.headers.location, '/login.php?error=1')
  t.ok(r.setCookies.some((c) => c.startsWith('PHPSESSID=')), 'PHP started a session for the failed login')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'the failed login counted for nothing')
  t.equal(await me(phone), 'alice', 'and alice\'s session is untouched')

  await phone.send('/logout.php')
  t.same(await h.gateway.store.sessionsOf('alice', h.clock.now()), [], 'logout frees the slot')

  // PHP drops leading spaces from a field's name (and turns dots and spaces
  // in it into underscores): " username" is $_POST['username'] to the app,
  // and to the gateway too (src/identity/field-names.ts). Sent beside
  // username=carol, PHP signs in bob (the last one): the gateway must not
  // count that login as carol's, so it refuses it before PHP sees it.
  const posts = (): number => php.output().split('POST /login.php').length - 1
  const before = posts()
  const decoy = h.device('browser')
  const twice = await decoy.send('/login.php', { body: 'username=carol&%20username=bob&password=pw-bob', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(twice.status, 400, 'two spellings naming two users: refused')
  t.equal(posts(), before, 'PHP never saw it')
  t.same(await h.gateway.store.sessionsOf('carol', h.clock.now()), [], 'nothing counted as carol')
  // Spelt so alone, the name is bob's to both: his guesses are his.
  const guesses: number[] = []
  for (let i = 0; i < 7; i++) {
    const r = await h.device('browser').send('/login.php', { body: '%20username=bob&password=guess', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    guesses.push(r.status)
  }
  t.same(guesses, [302, 302, 302, 302, 302, 429, 429], 'five guesses reach PHP (back to its form), then the login guard answers')
  t.equal(posts() - before, 5, 'PHP saw five')
  const right = await h.device('browser').send('/login.php', { body: '%20username=bob&password=pw-bob', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(right.status, 429, 'the right password too, spelt so: the answer tells nothing')
  const named = await h.device('browser').send('/login.php', { form: { username: 'bob', password: 'pw-bob' } })
  t.equal(named.status, 429, 'and spelt as the form spells it: one user, one count')
  const other = h.device('browser')
  t.equal((await other.send('/login.php', { form: { username: 'alice', password: 'pw-alice' } })).status, 302, 'alice still signs in from the same network')
  t.equal(await me(other), 'alice')

  // PHP reads $_POST from a multipart body too, and ends a part's header at
  // a bare LF: a part the gateway would skip (its header never ends in
  // CRLF CRLF) names alice to PHP, after carol. Such a body is refused; one
  // formed as a browser forms it is read.
  const multipart = { 'content-type': 'multipart/form-data; boundary=XyZ' }
  const part = (name: string, value: string, eol = '\r\n'): string => `--XyZ\r\nContent-Disposition: form-data; name="${name}"${eol}${eol}${value}\r\n`
  const beforeMultipart = posts()
  const lf = await h.device('browser').send('/login.php', { body: part('username', 'carol') + part('username', 'alice', '\n') + part('password', 'pw-alice') + '--XyZ--\r\n', headers: multipart })
  t.equal(lf.status, 400, 'a part header ended by bare LFs: refused')
  t.match(lf.text, /SESSIONCAP_ERR_LOGIN_BODY_MALFORMED/)
  t.equal(posts(), beforeMultipart, 'PHP never saw it')
  const browser = h.device('browser')
  const firefox = '----geckoformboundary6e8d0c1f3a'
  const formed = await browser.send('/login.php', { body: (part('username', 'alice') + part('password', 'pw-alice') + '--XyZ--\r\n').replaceAll('--XyZ', `--${firefox}`), headers: { 'content-type': `multipart/form-data; boundary=${firefox}` } })
  t.equal(formed.status, 302, 'a multipart login formed as browsers form it reaches PHP')
  t.equal(await me(browser), 'alice')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'counted as alice\'s (limit 1)')
})
