import t from 'tap'
import { startHarness, type Harness } from './helpers/harness.js'
import { railsVersion, startRails } from './helpers/framework-rails.js'
import { Device, type Answer } from './helpers/client.js'

/**
 * preset: rails against a real Rails 6.1 + Devise 4.8 app (test/fixtures/rails):
 * Devise's own sign-in form (CSRF token, "Remember me"), a page behind
 * authenticate_user!, the Sign out button and /api/me. Rails keeps the
 * session in the cookie itself (CookieStore): it re-encrypts it on every
 * answer, and cannot revoke a value, so the gateway is what refuses an
 * ended one.
 */

const COOKIE = '_sctest_session'
const REMEMBER = 'remember_user_token'
const PRESET = `preset: rails\nsession: { cookie: ${COOKIE} }\nlimit: 1\n`
const WHOAMI = `${PRESET}login: auto\nwhoami: { path: /api/me, json: /user, caseInsensitive: true }\n`

/** The authenticity_token of the page's first form (the sign-in form, or the Sign out button). */
function formToken (page: Answer): string {
  const token = /name="authenticity_token" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no authenticity_token on the page (${page.status}): ${page.text.slice(0, 300)}`)
  return token
}

/** The page's own CSRF token (csrf_meta_tags), valid for any form of the session. */
function metaToken (page: Answer): string {
  const token = /<meta name="csrf-token" content="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no csrf-token meta tag on the page (${page.status})`)
  return token
}

/** Devise's sign-in form, fetched and submitted as a browser does. */
async function signIn (d: Device, name: string, password = `pw-${name}`, remember = false): Promise<Answer> {
  return await postSignIn(d, formToken(await d.send('/users/sign_in')), name, password, remember)
}

/** The sign-in form's POST (the "Remember me" checkbox sends its hidden 0, then 1 when ticked). */
async function postSignIn (d: Device, token: string, name: string, password: string, remember = false): Promise<Answer> {
  const form = new URLSearchParams({ authenticity_token: token, 'user[email]': `${name}@example.com`, 'user[password]': password })
  form.append('user[remember_me]', '0')
  if (remember) form.append('user[remember_me]', '1')
  form.append('commit', 'Log in')
  return await d.send('/users/sign_in', { body: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } })
}

/** Who /api/me says is signed in (the email), or the status it answered. */
async function me (d: Device): Promise<string | number> {
  const r = await d.send('/api/me', { headers: { accept: 'application/json' } })
  return r.status === 200 ? (r.json() as { user: string }).user : r.status
}

/** A browser holding just these cookies (another device, or a browser restarted with only its persistent cookies). */
function browserWith (h: Harness, cookies: Record<string, string | undefined>): Device {
  const d = h.device('browser')
  for (const [k, v] of Object.entries(cookies)) if (v !== undefined) d.jar.set(k, v)
  return d
}

async function sessionsOf (h: Harness, name: string): Promise<string[]> {
  return (await h.gateway.store.sessionsOf(`${name}@example.com`, h.clock.now())).map((s) => s.id)
}

/** The gateway's session a browser's current cookie belongs to: its key, if live and that user's. */
async function liveSessionOf (h: Harness, d: Device, name: string): Promise<string | undefined> {
  const found = await h.gateway.store.check(h.gateway.context.hash(d.jar.get(COOKIE) ?? ''), h.clock.now())
  return found.state === 'live' && found.user === `${name}@example.com` ? found.slot : undefined
}

const probe = railsVersion()

t.test('Rails + Devise with preset: rails', { skip: 'missing' in probe ? probe.missing : false }, async (t) => {
  const rails = await startRails(t)
  t.comment(`${'version' in probe ? probe.version : ''}: first answer ${rails.bootMs} ms after spawn`)
  const h = await startHarness(t, { upstream: rails.url, yaml: PRESET })
  const host = new URL(h.base).host
  /** How many times /api/me was asked so far (Rails' request log). */
  const whoamiQuestions = (): number => rails.output().split('Started GET "/api/me"').length - 1
  /** Rails asked directly, bypassing the gateway, with this session cookie. */
  const directly = async (value: string): Promise<string | number> => {
    const d = new Device(rails.url, 'browser')
    d.jar.set(COOKIE, value)
    return await me(d)
  }

  t.test('two logins with limit 1 end the first; it is sent to the signed-out page, its session cookie cleared', async (t) => {
    const laptop = h.device('browser')
    const login = await signIn(laptop, 'alice')
    t.equal(login.status, 302, 'Devise signed alice in')
    t.equal(login.headers.location, `http://${host}/`, 'to the root page (Rails writes an absolute URL, with the browser\'s Host)')
    t.ok(laptop.jar.get(COOKIE))
    const secret = await laptop.send('/secret')
    t.equal(secret.status, 200, 'the page behind authenticate_user! is open to her')
    t.match(secret.text, /Signed in as <b>alice@example\.com<\/b>/)
    h.clock.advance(60_000)

    const phone = h.device('browser')
    t.equal((await signIn(phone, 'alice')).status, 302)
    t.equal(await me(phone), 'alice@example.com')

    const ended = await laptop.send('/secret')
    t.equal(ended.status, 303, 'the first browser is refused')
    t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/, 'and sent to the signed-out page')
    t.ok(ended.setCookies.some((c) => c.startsWith(`${COOKIE}=; `)), 'its Rails session cookie is cleared')
    t.equal(laptop.jar.get(COOKIE), undefined)
    const signedOut = await laptop.send(String(ended.headers.location))
    t.equal(signedOut.status, 200)
    t.match(signedOut.text, /signed in on another device/, 'which says why')
    t.match(signedOut.text, /href="\/users\/sign_in"/, 'and links to Devise\'s sign-in page')
    const again = await laptop.send('/secret')
    t.equal(again.status, 302, 'Rails no longer knows the laptop')
    t.equal(again.headers.location, `http://${host}/users/sign_in`, 'and sends it to sign in')
    t.equal(await me(phone), 'alice@example.com', 'the phone is still signed in')
  })

  t.test('Rails re-encrypts the cookie on every answer: each new value is the same session, and all are refused once it ends', async (t) => {
    const laptop = h.device('browser')
    await signIn(laptop, 'bob')
    const values = [laptop.jar.get(COOKIE) ?? '']
    for (let i = 0; i < 2; i++) {
      const r = await laptop.send('/secret')
      t.equal(r.status, 200)
      t.ok(r.setCookies.some((c) => c.startsWith(`${COOKIE}=`)), 'a page behind login answers with a new session cookie')
      values.push(laptop.jar.get(COOKIE) ?? '')
    }
    t.equal(new Set(values).size, 3, 'three different values')
    t.equal((await sessionsOf(h, 'bob')).length, 1, 'one session for bob at the gateway')
    t.equal(await me(browserWith(h, { [COOKIE]: values[0] })), 'bob@example.com', 'the first value still signs bob in (a cookie store cannot revoke it)')
    t.equal((await sessionsOf(h, 'bob')).length, 1, 'and counts as that same session')

    h.clock.advance(60_000)
    const phone = h.device('browser')
    await signIn(phone, 'bob')
    for (const [i, value] of values.entries()) {
      t.equal(await me(browserWith(h, { [COOKIE]: value })), 401, `value ${i + 1} of the ended session is refused`)
      t.equal(await directly(value), 'bob@example.com', `though Rails itself still signs value ${i + 1} in`)
    }
    t.equal(await me(phone), 'bob@example.com')
  })

  t.test('a wrong password counts for nothing: Devise shows the form again (200) with a new session cookie', async (t) => {
    const before = await sessionsOf(h, 'alice')
    t.equal(before.length, 1, 'alice\'s phone from before')
    const d = h.device('browser')
    const r = await signIn(d, 'alice', 'wrong')
    t.equal(r.status, 200, 'Devise 4.8 renders the form again, no redirect')
    t.match(r.text, /Invalid Email or password\./, 'with its alert')
    t.ok(r.setCookies.some((c) => c.startsWith(`${COOKIE}=`)), 'and a new (anonymous) session cookie')
    t.same(await sessionsOf(h, 'alice'), before, 'not counted: alice\'s sessions are untouched')
    t.equal(await me(d), 401, 'and Rails agrees nobody signed in')
  })

  t.test('logout frees the slot: the Sign out button (POST, _method=delete, its token)', async (t) => {
    const d = h.device('browser')
    await signIn(d, 'carol')
    const page = await d.send('/secret')
    t.match(page.text, /<form class="button_to" method="post" action="\/users\/sign_out"><input type="hidden" name="_method" value="delete"/, 'Rails\' button_to: a POST form that says DELETE')
    const before = d.jar.get(COOKIE) ?? ''
    const out = await d.send('/users/sign_out', { form: { _method: 'delete', authenticity_token: formToken(page) } })
    t.equal(out.status, 302, 'Devise signed carol out')
    t.equal(out.headers.location, `http://${host}/`)
    t.ok(out.setCookies.some((c) => c.startsWith(`${COOKIE}=`) && !c.startsWith(`${COOKIE}=;`)), 'Rails answers with a new session (its flash), not a cleared cookie')
    t.same(await sessionsOf(h, 'carol'), [], 'the slot is free')
    t.equal(await me(browserWith(h, { [COOKIE]: before })), 401, 'the signed-out value is taken out of later requests')
    t.equal(await directly(before), 'carol@example.com', 'which matters: Rails itself would still sign it in')
    const next = h.device('browser')
    await signIn(next, 'carol')
    t.ok(h.logs.some((l) => l.includes('"msg":"login admitted"') && l.includes('"user":"carol@example.com"') && l.includes('"ended":[]')), 'the next login ended nothing')
  })

  t.test('logout frees the slot: a DELETE with the X-CSRF-Token header (as a script sends it)', async (t) => {
    const d = h.device('browser')
    await signIn(d, 'dave')
    const page = await d.send('/secret')
    const out = await d.send('/users/sign_out', { method: 'DELETE', headers: { 'x-csrf-token': metaToken(page) } })
    t.equal(out.status, 302)
    t.same(await sessionsOf(h, 'dave'), [], 'the slot is free')
    t.equal(await me(d), 401)
  })

  t.test('remember me: the ended browser\'s remember_user_token is cleared with its session cookie', async (t) => {
    const laptop = h.device('browser')
    const login = await signIn(laptop, 'erin', 'pw-erin', true)
    t.ok(login.setCookies.some((c) => c.startsWith(`${REMEMBER}=`)), 'Devise set its remember cookie')
    h.clock.advance(60_000)
    await signIn(h.device('browser'), 'erin')
    const ended = await laptop.send('/secret')
    t.equal(ended.status, 303)
    t.ok(ended.setCookies.some((c) => c.startsWith(`${REMEMBER}=; `)), 'the ended answer clears remember_user_token')
    t.equal(laptop.jar.get(REMEMBER), undefined, 'the browser dropped it')
    const again = await laptop.send('/secret')
    t.equal(again.status, 302, 'so Devise does not sign the laptop back in')
    t.equal(again.headers.location, `http://${host}/users/sign_in`)
  })

  t.test('without login: auto, a remember-me sign-in is not counted (why the preset wants a whoami)', async (t) => {
    // The laptop ticked "Remember me"; its browser was closed (the session cookie gone), then the phone signed in.
    const laptop = h.device('browser')
    await signIn(laptop, 'frank', 'pw-frank', true)
    const remember = laptop.jar.get(REMEMBER)
    h.clock.advance(60_000)
    const phone = h.device('browser')
    await signIn(phone, 'frank')
    const reopened = browserWith(h, { [REMEMBER]: remember })
    const r = await reopened.send('/secret')
    t.equal(r.status, 200, 'Devise signs the reopened browser in from its remember cookie')
    t.ok(r.setCookies.some((c) => c.startsWith(`${COOKIE}=`)), 'with a new session cookie on a page that is no login route')
    t.equal(await me(reopened), 'frank@example.com')
    t.equal(await me(phone), 'frank@example.com', 'the phone is still signed in too: two sessions under limit 1')
    t.equal((await sessionsOf(h, 'frank')).length, 1, 'the gateway counts only the phone\'s')
  })

  t.test('without a whoami, a signed-in user can end someone else\'s session (Devise\'s "already signed in" is the same 302)', async (t) => {
    const victim = h.device('browser')
    await signIn(victim, 'grace')
    const graceBefore = await sessionsOf(h, 'grace')
    h.clock.advance(60_000)
    const mallory = h.device('browser')
    await signIn(mallory, 'mallory')
    // Signed in, she gets no sign-in form (Devise redirects her away from it), but any page carries a valid token.
    const r = await postSignIn(mallory, metaToken(await mallory.send('/secret')), 'grace', 'not-her-password')
    t.equal(r.status, 302, 'Devise redirects a signed-in user away from the sign-in form')
    t.equal(r.headers.location, `http://${host}/`, 'to the same place a sign-in goes')
    t.ok(r.setCookies.some((c) => c.startsWith(`${COOKIE}=`)), 'with a new value of mallory\'s cookie (its flash)')
    t.equal(await me(mallory), 'mallory@example.com', 'Rails still has mallory signed in')
    const counted = await liveSessionOf(h, mallory, 'grace')
    t.ok(counted, 'yet the gateway holds mallory\'s cookie for a session of grace\'s')
    t.not(graceBefore.length, 0)
    t.same(await sessionsOf(h, 'grace'), [counted], 'her only one')
    t.equal(await me(victim), 401, 'and ended grace\'s real session')
  })

  t.test('Rack 2 splits a query string at \';\' too: a name only that split finds is read as Rails reads it, and two names are refused', async (t) => {
    const reachedRails = (): number => rails.output().split('Started POST "/users/sign_in').length - 1
    const d = h.device('browser')
    const body = new URLSearchParams({ authenticity_token: formToken(await d.send('/users/sign_in')) }).toString()
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    const before = reachedRails()
    const twice = await d.send('/users/sign_in?user%5Bemail%5D=carol%40example.com;user%5Bemail%5D=dave%40example.com;user%5Bpassword%5D=pw-dave', { body, headers: form })
    t.equal(twice.status, 400, 'carol to a split at \'&\' alone, dave to Rails: refused')
    t.equal(reachedRails(), before, 'Rails never saw it')
    const login = await d.send('/users/sign_in?commit=Log+in;user%5Bemail%5D=dave%40example.com;user%5Bpassword%5D=pw-dave', { body, headers: form })
    t.equal(login.status, 302, 'Rails signs dave in from the query string')
    t.equal(await me(d), 'dave@example.com')
    t.ok(await liveSessionOf(h, d, 'dave'), 'and the gateway counts the session as dave\'s')
  })

  t.test('a multipart sign-in is read only as browsers form it: one Rails reads differently is refused before Rails', async (t) => {
    const reachedRails = (): number => rails.output().split('Started POST "/users/sign_in').length - 1
    const d = h.device('browser')
    const token = formToken(await d.send('/users/sign_in'))
    const part = (head: string, value: string): string => `--XyZ\r\n${head}\r\n\r\n${value}\r\n`
    const field = (name: string, value: string): string => part(`Content-Disposition: form-data; name="${name}"`, value)
    const rest = field('authenticity_token', token) + field('user[password]', 'pw-erin') + '--XyZ--\r\n'
    const multipart = { 'content-type': 'multipart/form-data; boundary=XyZ' }
    const before = reachedRails()
    // Rack 2.2 finds a part's name across a folded line (`[^:]*;\s*name=`) and takes the last: erin to Rails, carol to a reader of one line.
    const folded = await d.send('/users/sign_in', { body: field('user[email]', 'carol@example.com') + part('Content-Disposition: form-data;\r\n name="user[email]"', 'erin@example.com') + rest, headers: multipart })
    t.equal(folded.status, 400, 'a folded part header')
    t.match(folded.text, /SESSIONCAP_ERR_LOGIN_BODY_MALFORMED/)
    const boundaries = await d.send('/users/sign_in', { body: field('user[email]', 'erin@example.com') + rest, headers: { 'content-type': 'multipart/form-data; boundary=XyZ; boundary=AbC' } })
    t.equal(boundaries.status, 400, 'two boundaries (Rack takes the last)')
    const mixed = await d.send('/users/sign_in', { body: field('user[email]', 'erin@example.com') + rest, headers: { 'content-type': 'multipart/mixed; boundary=XyZ' } })
    t.equal(mixed.status, 400, 'multipart/mixed (Rack parses it as a form)')
    t.equal(reachedRails(), before, 'Rails saw none of them')
    const login = await d.send('/users/sign_in', { body: field('user[email]', 'erin@example.com') + rest, headers: multipart })
    t.equal(login.status, 302, 'formed as a browser forms it, Rails signs erin in')
    t.equal(await me(d), 'erin@example.com')
    t.ok(await liveSessionOf(h, d, 'erin'), 'and the gateway counts the session as erin\'s')
  })

  t.test('with login: auto and whoami: /api/me', async (t) => {
    const w = await startHarness(t, { upstream: rails.url, yaml: WHOAMI })

    t.test('a remember-me sign-in counts as a login and ends the oldest session', async (t) => {
      const laptop = w.device('browser')
      t.equal((await signIn(laptop, 'frank', 'pw-frank', true)).status, 302)
      const remember = laptop.jar.get(REMEMBER)
      t.ok(remember)
      w.clock.advance(60_000)
      const phone = w.device('browser')
      await signIn(phone, 'frank')
      t.equal(await me(phone), 'frank@example.com')
      w.clock.advance(60_000)

      const reopened = browserWith(w, { [REMEMBER]: remember })
      const r = await reopened.send('/secret')
      t.equal(r.status, 200, 'Devise signs the reopened browser in from its remember cookie')
      const counted = await liveSessionOf(w, reopened, 'frank')
      t.ok(counted, 'counted as frank\'s login')
      t.same(await sessionsOf(w, 'frank'), [counted], 'his only session now')
      t.ok(w.logs.some((l) => l.includes('"via":"login: auto (whoami)"') && l.includes('"user":"frank@example.com"') && l.includes('"msg":"login admitted"')), 'found by whoami')
      const ended = await phone.send('/secret')
      t.equal(ended.status, 303, 'the phone, the oldest, is ended')
      t.match(ended.headers.location, /^\/\.sessioncap\/ended\?n=/)
      t.equal(await me(reopened), 'frank@example.com', 'the reopened browser stays signed in')
    })

    t.test('the cookie re-encrypted on every answer is still one session, at the cost of a whoami per page', async (t) => {
      const d = w.device('browser')
      await signIn(d, 'bob')
      const asked = whoamiQuestions()
      for (let i = 0; i < 3; i++) t.equal((await d.send('/secret')).status, 200)
      t.equal(whoamiQuestions() - asked, 3, 'each new value is a rotation that login: auto asks /api/me about (someone else may have signed in)')
      t.equal((await sessionsOf(w, 'bob')).length, 1)
      t.notOk(w.logs.some((l) => l.includes('"user":"bob@example.com"') && l.includes('"via":"login: auto (whoami)"')), 'no rotation was taken for a new login')
    })

    t.test('a signed-in user naming someone else on the sign-in form signs nobody new in', async (t) => {
      const victim = w.device('browser')
      await signIn(victim, 'grace')
      const graceBefore = await sessionsOf(w, 'grace')
      w.clock.advance(60_000)
      const mallory = w.device('browser')
      await signIn(mallory, 'mallory')
      t.equal((await postSignIn(mallory, metaToken(await mallory.send('/secret')), 'grace', 'not-her-password')).status, 302)
      t.same(await sessionsOf(w, 'grace'), graceBefore, 'whoami says it is still mallory: grace\'s sessions are untouched')
      t.equal(await me(victim), 'grace@example.com', 'grace stays signed in')
      t.equal((await sessionsOf(w, 'mallory')).length, 1, 'mallory keeps one session')
    })

    t.test('a JSON sign-in, as a script sends Devise its params, names the user as the form does: its wrong passwords are guarded', async (t) => {
      const d = w.device('browser')
      const token = metaToken(await d.send('/users/sign_in'))
      const reachedRails = (): number => rails.output().split('Started POST "/users/sign_in"').length - 1
      const before = reachedRails()
      const statuses: number[] = []
      for (let i = 0; i < 7; i++) {
        const r = await d.send('/users/sign_in', { body: JSON.stringify({ user: { email: 'judy@example.com', password: 'wrong' } }), headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': token } })
        statuses.push(r.status)
      }
      t.same(statuses, [401, 401, 401, 401, 401, 429, 429], 'Devise refuses five (401, its JSON answer), then the gateway answers')
      t.equal(reachedRails() - before, 5, 'the sixth and seventh never reached Rails')
      t.ok(w.logs.some((l) => l.includes('"msg":"login attempt refused: too many failures"')), 'refused by the login guard')
      // The block is on judy from this network, whichever way her name comes: the form is refused here too.
      const form = await signIn(w.device('browser'), 'judy')
      t.equal(form.status, 429, 'her sign-in form from this network is refused as well')
    })

    t.test('a wrong password still counts for nothing', async (t) => {
      const before = await sessionsOf(w, 'bob')
      const r = await signIn(w.device('browser'), 'bob', 'wrong')
      t.equal(r.status, 200)
      t.same(await sessionsOf(w, 'bob'), before)
    })
  })

  t.test('with unknownSessions: adopt and the same whoami instead: the remember-me session is counted on its next request', async (t) => {
    const a = await startHarness(t, { upstream: rails.url, yaml: `${PRESET}unknownSessions: adopt\nwhoami: { path: /api/me, json: /user, caseInsensitive: true }\n` })
    const laptop = a.device('browser')
    await signIn(laptop, 'frank', 'pw-frank', true)
    const remember = laptop.jar.get(REMEMBER)
    a.clock.advance(60_000)
    const phone = a.device('browser')
    await signIn(phone, 'frank')
    const phoneOnly = await sessionsOf(a, 'frank')
    const asked = whoamiQuestions()
    for (let i = 0; i < 3; i++) t.equal((await phone.send('/secret')).status, 200)
    t.equal(whoamiQuestions(), asked, 'a signed-in user\'s pages ask nothing: rotations are followed without a whoami')
    a.clock.advance(60_000)

    const reopened = browserWith(a, { [REMEMBER]: remember })
    t.equal((await reopened.send('/secret')).status, 200, 'Devise signs the reopened browser in, uncounted for this one answer')
    t.same(await sessionsOf(a, 'frank'), phoneOnly, 'still only the phone\'s')
    t.equal(await me(reopened), 'frank@example.com', 'its next request brings the new cookie: adopted')
    const counted = await liveSessionOf(a, reopened, 'frank')
    t.ok(counted)
    t.same(await sessionsOf(a, 'frank'), [counted], 'frank\'s only session now')
    t.equal((await phone.send('/secret')).status, 303, 'the phone, the oldest, is ended')

    const victim = a.device('browser')
    await signIn(victim, 'grace')
    a.clock.advance(60_000)
    const mallory = a.device('browser')
    await signIn(mallory, 'mallory')
    await postSignIn(mallory, metaToken(await mallory.send('/secret')), 'grace', 'not-her-password')
    t.equal(await me(victim), 'grace@example.com', 'a top-level whoami also confirms route logins: grace stays signed in')
  })
})
