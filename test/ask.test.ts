import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'

/** policy ask over HTTP: what clients that are not shown the pages get, and what a waiting session may reach. */
const ASK = `${APP_ROUTES}policy: ask\n`
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0'

/** A browser that signed in over the limit and now waits on the chooser. */
async function waiting (t: Test, h: Harness): Promise<{ laptop: Device, phone: Device }> {
  const laptop = h.device('browser')
  await laptop.send('/admin/login/', { form: { username: 'alice', password: 'secret' }, headers: { 'user-agent': FIREFOX } })
  h.clock.advance(60_000)
  const phone = h.device('browser')
  const r = await phone.formLogin('alice')
  t.equal(r.status, 303)
  t.match(r.headers.location, /^\/\.sessioncap\/choose\?next=%2F$/)
  return { laptop, phone }
}

t.test('a browser login over the limit waits for a choice: it keeps its cookie and reaches nothing but the pages', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const { laptop, phone } = await waiting(t, h)
  t.ok(phone.sessionCookie, 'the app\'s cookie reached the browser')
  t.equal(await laptop.whoami(), 'alice', 'nothing was ended yet')
  const before = h.app.requests
  const page = await phone.send('/reports?week=3')
  t.equal(page.status, 303)
  t.equal(page.headers.location, '/.sessioncap/choose?next=%2Freports%3Fweek%3D3', 'back to this page after the choice')
  const xhr = await phone.send('/api/me', { headers: { accept: 'application/json' } })
  t.equal(xhr.status, 409)
  t.same(xhr.json(), { error: 'session_pending', code: 'SESSIONCAP_ERR_SESSION_PENDING', choose: '/.sessioncap/choose' }, 'a script is told where the choice is made')
  const post = await phone.send('/echo', { method: 'POST', form: { a: '1' } })
  t.equal(post.headers.location, '/.sessioncap/choose', 'no way back to a POST')
  t.equal(h.app.requests, before, 'none of it reached the app')
  const list = await h.gateway.store.sessionsOf('alice', h.clock.now())
  t.same(list.map((r) => [r.device, r.pendingUntil]), [['Firefox 133 on Windows 10', undefined], [undefined, h.clock.now() + 300_000]], 'waiting 5 minutes by default')

  const ws = new WebSocket(h.base.replace(/^http/, 'ws') + '/ws', { headers: { cookie: `sessionid=${phone.sessionCookie ?? ''}` } })
  const status = await new Promise<number>((resolve) => {
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode ?? 0); req.destroy() })
    ws.once('open', () => { resolve(101); ws.terminate() })
  })
  ws.on('error', () => {})
  t.equal(status, 409, 'nor can it open a WebSocket')
})

t.test('a waiting browser can always sign out, or sign in again', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const { phone } = await waiting(t, h)
  const first = phone.sessionCookie as string
  const again = await phone.formLogin('alice')
  t.match(again.headers.location, /^\/\.sessioncap\/choose/, 'a new login from the device in hand is asked again')
  t.not(phone.sessionCookie, first)
  const states = await Promise.all([first, phone.sessionCookie as string].map(async (c) => (await h.gateway.store.check(h.gateway.context.hash(c), h.clock.now())).state))
  t.same(states, ['ended', 'pending'], 'the first waiting session was replaced, not left waiting')

  const out = await phone.send('/admin/logout/', { method: 'POST' })
  t.equal(out.status, 302, 'the logout reaches the app')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'and ends the waiting session')
})

t.test('the login\'s own destination is where the chooser sends the browser after', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  await h.device('browser').formLogin('alice')
  const r = await h.device('browser').send('/admin/login/', { form: { username: 'alice', password: 'x', next: '/reports?week=3' } })
  t.equal(r.headers.location, '/.sessioncap/choose?next=%2Freports%3Fweek%3D3')
  const offsite = await h.device('browser').send('/admin/login/', { form: { username: 'alice', password: 'x', next: 'https://elsewhere.example/' } })
  t.equal(offsite.headers.location, '/.sessioncap/choose', 'another site is never a destination')
  const here = await h.device('browser').send('/admin/login/', { form: { username: 'alice', password: 'x', next: `${h.base}/deep/page` }, headers: { host: new URL(h.base).host } })
  t.equal(here.headers.location, '/.sessioncap/choose?next=%2Fdeep%2Fpage', 'an absolute URL of this site is kept as its path')
})

t.test('clients that cannot be shown the chooser get the fallback at once', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const first = h.device()
  await first.apiLogin('alice@example.com')
  h.clock.advance(60_000)
  const second = h.device()
  const r = await second.apiLogin('alice@example.com')
  t.equal(r.status, 200, 'evict-idlest: the new API login is admitted')
  t.equal(await second.whoami(), 'alice@example.com')
  t.equal(await first.whoami(), 401, 'and the idlest session ended')
})

t.test('with a reject-new fallback, an API client is refused with 409 and the sessions it would have to end', async (t) => {
  const h = await startHarness(t, { yaml: `${ASK}ask: { fallback: reject-new }\n` })
  const first = h.device()
  await first.send('/api/login', { json: { email: 'alice@example.com', password: 'secret' }, headers: { 'user-agent': FIREFOX } })
  h.clock.advance(60_000)
  const second = h.device()
  const r = await second.apiLogin('alice@example.com')
  t.equal(r.status, 409)
  t.equal(r.headers['cache-control'], 'no-store')
  t.same(r.json(), {
    error: 'too_many_sessions',
    code: 'SESSIONCAP_ERR_TOO_MANY_SESSIONS',
    message: 'this account is signed in on too many devices',
    reason: 'concurrent_login_limit',
    limit: 1,
    sessions: [{ device: 'Firefox 133 on Windows 10', ip: '127.0.0.x', signedInAt: '2026-01-01T00:00:00.000Z', lastUsedAt: '2026-01-01T00:00:00.000Z' }]
  })
  t.equal(second.sessionCookie, undefined, 'the refused session\'s cookie never reached the client')
  t.equal(await first.whoami(), 'alice@example.com', 'the signed-in session is untouched')
})

t.test('choosing over HTTP: what ends, what stays, and what is refused', async (t) => {
  const h = await startHarness(t, { yaml: `${ASK}limit: 2\n` })
  const devices = [h.device('browser'), h.device('browser')]
  for (const d of devices) await d.formLogin('alice')
  const { phone, chooser } = await (async () => {
    const phone = h.device('browser')
    await phone.formLogin('alice')
    const chooser = await phone.send('/.sessioncap/choose?next=%2Fdone')
    return { phone, chooser }
  })()
  t.equal(chooser.status, 200)
  const csrf = /name="csrf" value="([^"]+)"/.exec(chooser.text)?.[1] ?? ''
  const handles = [...chooser.text.matchAll(/name="end" value="([^"]+)"/g)].map((m) => m[1] ?? '')
  t.equal(handles.length, 2, 'both other sessions can be picked')

  const none = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end', next: '/done' } })
  t.equal(none.status, 422, 'nothing picked')
  t.match(none.text, /Select at least one session/)
  const odd = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'explode' } })
  t.equal(odd.status, 400)

  const chosen = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end', end: handles[0] ?? '', next: '//elsewhere.example/' } })
  t.equal(chosen.status, 303)
  t.equal(chosen.headers.location, '/', 'a next that leaves the site is not followed')
  t.equal(await phone.whoami(), 'alice', 'one ended: the waiting session now counts')
  const left = await Promise.all(devices.map(async (d) => await d.whoami()))
  t.same(left.sort(), [401, 'alice'].sort(), 'exactly the one picked was ended')
  t.match(h.logs.join('\n'), /chooser: the user ended sessions/)
})

t.test('a choice that leaves the user over the limit keeps waiting', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const phone = h.device('browser')
  await phone.formLogin('alice')
  const tablet = h.device('browser')
  await tablet.formLogin('alice')
  const page = await tablet.send('/.sessioncap/choose')
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  // The phone also waits: it does not count, so ending it frees nothing.
  const phoneRow = /<input type="checkbox" name="end" value="([^"]+)"[^>]*>\s*<div class="session">\s*<label[^>]*>[^<]*<\/label>\s*<span class="tag wait">/.exec(page.text)?.[1]
  t.ok(phoneRow, 'the other waiting session is marked as waiting')
  const r = await tablet.send('/.sessioncap/choose', { form: { csrf, action: 'end', end: phoneRow ?? '' } })
  t.equal(r.status, 200)
  t.match(r.text, /still signed in on too many devices/)
  t.equal(await laptop.whoami(), 'alice')
  t.equal((await tablet.send('/')).status, 303, 'the tablet still waits')
})

t.test('a session ended from the chooser has its WebSockets closed', async (t) => {
  const h = await startHarness(t, { yaml: ASK, realClock: true })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const ws = new WebSocket(h.base.replace(/^http/, 'ws') + '/ws', { headers: { cookie: `sessionid=${laptop.sessionCookie ?? ''}` } })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code: number) => { resolve(code) }) })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  const echo = new Promise<string>((resolve) => { ws.once('message', (d: Buffer) => { resolve(d.toString()) }) })
  ws.send('ping')
  t.equal(await echo, 'alice: ping')
  const phone = h.device('browser')
  await phone.formLogin('alice')
  const page = await phone.send('/.sessioncap/choose')
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end-others' } })
  t.equal(await closed, 1008, 'closed with 1008 (policy violation)')
})

t.test('a waiting session reaches nothing beside a live cookie, nor with its id in the URL', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const { laptop, phone } = await waiting(t, h)
  const before = h.app.requests
  // Some apps read the last of duplicate cookies: the live one first must not carry the waiting one in.
  for (const cookie of [`sessionid=${laptop.sessionCookie ?? ''}; sessionid=${phone.sessionCookie ?? ''}`, `sessionid=${phone.sessionCookie ?? ''}; sessionid=${laptop.sessionCookie ?? ''}`]) {
    const r = await h.device('browser').send('/api/me', { headers: { cookie } })
    t.equal(r.status, 303, 'sent to the chooser')
  }
  const inUrl = await h.device('browser').send(`/api/me;sessionid=${phone.sessionCookie ?? ''}`)
  t.equal(inUrl.status, 303)
  t.equal(inUrl.headers.location, '/.sessioncap/choose', 'and its id does not end up in the chooser\'s link')
  const inQuery = await h.device().send(`/api/me?sessionid=${phone.sessionCookie ?? ''}`)
  t.equal(inQuery.status, 409)
  t.equal(h.app.requests, before, 'none of it reached the app')
  const page = await h.device('browser').send('/.sessioncap/choose', { headers: { cookie: `sessionid=${laptop.sessionCookie ?? ''}; sessionid=${phone.sessionCookie ?? ''}` } })
  t.equal(page.status, 200, 'the chooser is about the waiting session')
  t.match(page.text, /Sign out all other devices/)
})

t.test('after the timeout, a waiting device that signs out or signs in again ends nothing else', async (t) => {
  const h = await startHarness(t, { yaml: `${ASK}ask: { timeout: 2m }\n` })
  const { laptop, phone } = await waiting(t, h)
  h.clock.advance(3 * 60_000)
  const out = await phone.send('/admin/logout/', { method: 'POST' })
  t.equal(out.status, 302)
  t.equal(await laptop.whoami(), 'alice', 'the laptop is still signed in')
  t.equal(await phone.whoami(), 401, 'the phone is signed out')

  const tablet = h.device('browser')
  await tablet.formLogin('alice')
  h.clock.advance(3 * 60_000)
  const again = await tablet.formLogin('alice')
  t.match(again.headers.location, /^\/\.sessioncap\/choose/, 'signing in again is asked again, not decided by the fallback')
  t.equal(await laptop.whoami(), 'alice')
})

t.test('a waiting session goes on by itself once room has freed up', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const { laptop, phone } = await waiting(t, h)
  await laptop.send('/admin/logout/', { method: 'POST' })
  const page = await phone.send('/.sessioncap/choose?next=%2Freports')
  t.equal(page.status, 303)
  t.equal(page.headers.location, '/reports', 'nothing to choose any more')
  t.equal(await phone.whoami(), 'alice')
})

t.test('the chooser\'s destination: printable ASCII paths of this site only, never one holding a session id', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const signedIn = h.device('browser')
  await signedIn.formLogin('bob')
  const odd = await signedIn.send('/.sessioncap/choose?next=%2F%C4%80')
  t.equal(odd.status, 303, 'not a 500')
  t.equal(odd.headers.location, '/')
  await h.device('browser').formLogin('alice')
  const withId = await h.device('browser').send('/admin/login/', { form: { username: 'alice', password: 'x', next: '/x?sessionid=abc' } })
  t.equal(withId.headers.location, '/.sessioncap/choose', 'the login\'s destination carried a session id: dropped')
})

t.test('a waiting login gets its session cookie, but not the remember-me cookie', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  await h.device('browser').formLogin('alice')
  const phone = h.device('browser')
  const r = await phone.send('/admin/login/', { form: { username: 'alice', password: 'x', remember: 'on' } })
  t.equal(r.status, 303)
  const set = [r.headers['set-cookie'] ?? []].flat().join('\n')
  t.match(set, /sessionid=/)
  t.notMatch(set, /remember_me=/, 'held back until the user has chosen')
})

t.test('a form with the right token, posted from another site, is refused', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const { laptop, phone } = await waiting(t, h)
  const chooser = await phone.send('/.sessioncap/choose')
  const csrf = /name="csrf" value="([^"]+)"/.exec(chooser.text)?.[1] ?? ''
  const forged = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end-others' }, headers: { 'sec-fetch-site': 'cross-site' } })
  t.equal(forged.status, 403)
  t.equal(await laptop.whoami(), 'alice', 'nothing was ended')
  const page = await laptop.send('/.sessioncap/sessions')
  const token = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  const other = await laptop.send('/.sessioncap/sessions', { form: { csrf: token, action: 'end-others' }, headers: { 'sec-fetch-site': 'cross-site' } })
  t.equal(other.status, 403)
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 2, 'the sessions page ended nothing either')
})

t.test('the chooser ends only its own user\'s sessions', async (t) => {
  const h = await startHarness(t, { yaml: ASK })
  const bob = h.device('browser')
  await bob.formLogin('bob')
  const bobPage = await bob.send('/.sessioncap/sessions')
  t.equal(bobPage.status, 200)
  const bobSlot = h.gateway.context.hash(bob.sessionCookie ?? '')
  const { phone } = await waiting(t, h)
  const chooser = await phone.send('/.sessioncap/choose')
  const csrf = /name="csrf" value="([^"]+)"/.exec(chooser.text)?.[1] ?? ''
  const handles = [...chooser.text.matchAll(/name="end" value="([^"]+)"/g)].map((m) => m[1] ?? '')
  t.equal(handles.length, 1)
  // Whatever a handle is, bob's session's id (or anything else) is not one of alice's.
  for (const end of [bobSlot, bobSlot.slice(0, 16), 'x']) {
    const r = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end', end } })
    t.not(r.status, 303, `posting ${end.slice(0, 6)}… ends nothing and does not let the phone through`)
  }
  t.equal(await bob.whoami(), 'bob', 'bob is untouched')
})
