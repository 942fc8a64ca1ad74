import t from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'

/**
 * The login guard through the real gateway, in front of the stand-in app,
 * which fails a form login whose password is "wrong" (a 200 with the form
 * again, as most apps answer), answers 500 to "crash" and takes two seconds
 * over "slow". The app counts the form logins that reach it.
 */

async function attempt (h: Harness, user: string, password: string, opts: { ip?: string, kind?: 'browser' | 'api', device?: string } = {}): Promise<{ status: number, text: string, headers: Record<string, string | string[] | undefined>, setCookies: string[] }> {
  const d = h.device(opts.kind ?? 'api')
  const headers: Record<string, string> = {}
  if (opts.ip !== undefined) headers['x-forwarded-for'] = opts.ip
  if (opts.device !== undefined) headers.cookie = `sessioncap_device=${opts.device}`
  const r = await d.send('/admin/login/', { form: { username: user, password }, headers })
  return { status: r.status, text: r.text, headers: r.headers, setCookies: r.setCookies }
}

t.test('5 failures of one user from one address: the 6th never reaches the app, and gets 429 with Retry-After', async (t) => {
  const h = await startHarness(t)
  const before = h.app.loginPosts
  for (let i = 0; i < 5; i++) t.equal((await attempt(h, 'alice', 'wrong')).status, 200, `failure ${i + 1} reaches the app (its form again)`)
  const refused = await attempt(h, 'alice', 'wrong')
  t.equal(refused.status, 429)
  t.equal(refused.headers['retry-after'], '60', 'blocked for 1 minute: whole seconds to its end')
  t.same(JSON.parse(refused.text), { error: 'too_many_attempts', code: 'SESSIONCAP_ERR_TOO_MANY_ATTEMPTS', retryAfter: 60 })
  t.equal((await attempt(h, 'alice', 'secret')).status, 429, 'the right password too: the user is blocked from this address')
  t.equal(h.app.loginPosts - before, 5, 'exactly five reached the app')
  t.equal((await attempt(h, 'bob', 'secret')).status, 302, 'another user from the same address is not blocked')
  t.ok(h.logs.some((l) => /login guard: blocked after too many failures/.test(l) && /"counter":"userNetwork"/.test(l)))
})

t.test('a user that does not exist gets exactly the same answers', async (t) => {
  const h = await startHarness(t)
  const answers = async (user: string): Promise<unknown[]> => {
    const out: unknown[] = []
    for (let i = 0; i < 6; i++) {
      const r = await attempt(h, user, 'wrong')
      out.push([r.status, r.text, r.headers['retry-after'], r.headers['content-type']])
    }
    return out
  }
  // The stand-in app fails both the same way; the gateway must not tell them apart either.
  t.same(await answers('alice'), await answers('no-such-user-4711'))
})

t.test('a success clears the user\'s failures from that address (its typos are forgiven)', async (t) => {
  const h = await startHarness(t)
  for (let i = 0; i < 4; i++) await attempt(h, 'alice', 'wrong')
  t.equal((await attempt(h, 'alice', 'secret')).status, 302)
  for (let i = 0; i < 5; i++) t.equal((await attempt(h, 'alice', 'wrong')).status, 200, `failure ${i + 1} after the success`)
  t.equal((await attempt(h, 'alice', 'wrong')).status, 429)
})

t.test('5xx answers and clients that leave are neutral: refunded, never counted', async (t) => {
  const h = await startHarness(t)
  for (let i = 0; i < 8; i++) t.equal((await attempt(h, 'alice', 'crash')).status, 500)
  // Clients that give up before the (slow) app answers.
  for (let i = 0; i < 8; i++) {
    const signal = AbortSignal.timeout(100)
    await request(`${h.base}/admin/login/`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=alice&password=slow', signal }).catch(() => {})
  }
  // Refunds land in the background: give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 200))
  for (let i = 0; i < 5; i++) t.equal((await attempt(h, 'alice', 'wrong')).status, 200, `failure ${i + 1} is still allowed`)
  t.equal((await attempt(h, 'alice', 'wrong')).status, 429)
})

t.test('blocks escalate 1m, 2m, 4m, and end on time', async (t) => {
  const h = await startHarness(t)
  const waits: string[] = []
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5; i++) await attempt(h, 'alice', 'wrong')
    const r = await attempt(h, 'alice', 'wrong')
    waits.push(String(r.headers['retry-after']))
    h.clock.advance(Number(r.headers['retry-after']) * 1000 - 1_000)
    t.equal((await attempt(h, 'alice', 'secret')).status, 429, 'still blocked a second before its end')
    h.clock.advance(1_000)
  }
  t.same(waits, ['60', '120', '240'])
  t.equal((await attempt(h, 'alice', 'secret')).status, 302, 'the block is over')
})

t.test('a browser gets the page, in the style and with the security headers of the other pages', async (t) => {
  const h = await startHarness(t)
  for (let i = 0; i < 5; i++) await attempt(h, 'alice', 'wrong', { kind: 'browser' })
  const r = await attempt(h, 'alice', 'wrong', { kind: 'browser' })
  t.equal(r.status, 429)
  t.equal(r.headers['retry-after'], '60')
  t.match(r.headers['content-type'], /^text\/html/)
  t.match(r.text, /Too many sign-in attempts\. Try again in 1 minute\./)
  t.match(r.headers['content-security-policy'], /default-src 'none'/)
  t.equal(r.headers['x-frame-options'], 'DENY')
  t.equal(r.headers['cache-control'], 'no-store')
})

t.test('maxLoginsPerHour: successful logins beyond it are refused the same way', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 0\nguard: { maxLoginsPerHour: 3 }\n` })
  for (let i = 0; i < 3; i++) t.equal((await attempt(h, 'bot', 'secret')).status, 302)
  const r = await attempt(h, 'bot', 'secret')
  t.equal(r.status, 429)
  t.ok(Number(r.headers['retry-after']) > 3_000, 'until the hour is over')
  h.clock.advance(3_600_000)
  t.equal((await attempt(h, 'bot', 'secret')).status, 302, 'an hour later')
})

t.test('observe: every refusal is only reported, and the attempt goes on', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}guard: { mode: observe }\n` })
  const before = h.app.loginPosts
  for (let i = 0; i < 8; i++) t.equal((await attempt(h, 'alice', 'wrong')).status, 200)
  t.equal(h.app.loginPosts - before, 8)
  t.ok(h.logs.some((l) => /observe: would refuse this login attempt/.test(l)))
  t.ok(h.logs.some((l) => /observe: the login guard would block/.test(l)))
})

t.test('a distributed attack on one user from 200 addresses blocks the user, not the user on their own device', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}proxy: { trustProxy: [127.0.0.1] }\n` })
  // Alice signed in on her laptop earlier: it holds the gateway's device cookie.
  const laptop = await attempt(h, 'alice', 'secret', { ip: '198.51.100.7' })
  t.equal(laptop.status, 302)
  const deviceCookie = laptop.setCookies.find((c) => c.startsWith('sessioncap_device='))
  t.match(deviceCookie, /HttpOnly/i)
  t.match(deviceCookie, /SameSite=Lax/i)
  t.notMatch(deviceCookie, /Secure/, 'plain HTTP: not Secure')
  const token = (/^sessioncap_device=([^;]+)/.exec(deviceCookie ?? '') as RegExpExecArray)[1] as string

  const before = h.app.loginPosts
  const statuses: number[] = []
  for (let i = 0; i < 200; i++) statuses.push((await attempt(h, 'alice', 'wrong', { ip: `203.0.${i >> 8}.${i & 255}` })).status)
  t.equal(h.app.loginPosts - before, 20, 'the user counter let 20 failures through, from anywhere')
  t.equal(statuses.filter((s) => s === 429).length, 180)
  t.equal((await attempt(h, 'alice', 'secret', { ip: '192.0.2.50' })).status, 429, 'a browser without her device cookie is refused')
  t.equal((await attempt(h, 'alice', 'secret', { ip: '192.0.2.51', device: token })).status, 302, 'her laptop still signs in, from anywhere')
  t.equal((await attempt(h, 'bob', 'secret', { ip: '192.0.2.50', device: token })).status, 302, 'her device cookie means nothing for another user (nor does it need to)')
  t.equal((await attempt(h, 'alice', 'secret', { ip: '192.0.2.52', device: `${token.slice(0, -2)}xx` })).status, 429, 'a forged device cookie is no device cookie')
})

t.test('the device cookie is the gateway\'s own: the app never sees it, nor gets it with an answer the gateway replaced', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 1\npolicy: reject-new\n` })
  const first = await attempt(h, 'alice', 'secret')
  const device = first.setCookies.find((c) => c.startsWith('sessioncap_device='))
  t.ok(device, 'a success gets a device cookie')
  const token = (/^sessioncap_device=([^;]+)/.exec(device ?? '') as RegExpExecArray)[1] as string
  const echo = await h.device().send('/echo', { headers: { cookie: `csrftoken=abc; sessioncap_device=${token};  sessioncap_device =${token}` } })
  t.equal((echo.json() as { headers: { cookie?: string } }).headers.cookie, 'csrftoken=abc', 'taken out of the Cookie header, however spaced')
  const alone = await h.device().send('/echo', { headers: { cookie: `sessioncap_device=${token}` } })
  t.equal((alone.json() as { headers: { cookie?: string } }).headers.cookie, undefined, 'a header with nothing else goes')
  // reject-new: the second login is refused by the limit (the password was right: a success for the guard).
  const refused = await attempt(h, 'alice', 'secret')
  t.equal(refused.status, 401)
  t.same(refused.setCookies.filter((c) => c.startsWith('sessioncap_device=')), [], 'no device cookie with the gateway\'s refusal')
})
