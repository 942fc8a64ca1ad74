import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { createServer, validateHeaderName, validateHeaderValue, type IncomingHttpHeaders } from 'node:http'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfigText } from '../src/config/load.js'
import type { UpstreamLogoutConfig } from '../src/config/schema.js'
import { endSessions } from '../src/sessions/actions.js'
import { logoutRequest } from '../src/proxy/upstream-logout.js'
import { withOnlyValue } from '../src/http/cookies.js'
import { Device, type Answer } from './helpers/client.js'
import { startDjango } from './helpers/frameworks.js'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

/**
 * ended.upstreamLogout: the app's own session is logged out too, on the
 * first request that carries an ended session's cookie — against the
 * stand-in app (its session store really drops it) and Django's
 * CSRF-protected admin logout.
 */

function auditFile (): string {
  return join(mkdtempSync(join(tmpdir(), 'sessioncap-upstream-logout-')), 'audit.jsonl')
}

/** The upstream_logout events the audit trail wrote for this session. */
function replays (file: string, session: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.type === 'upstream_logout' && e.session === session)
}

async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Waits for something the gateway does in the background. */
async function until (what: string, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited ${ms} ms for ${what}`)
    await sleep(20)
  }
}

const CSRF_LOGOUT = 'ended:\n  upstreamLogout: { path: /admin/logout/, headers: { X-CSRFToken: "{cookie:csrftoken}" } }\n'

t.test('the logout request: cookies, {cookie:NAME}, form body, nothing injected', async (t) => {
  const conf: UpstreamLogoutConfig = {
    method: 'POST',
    path: '/admin/logout/',
    headers: {
      'X-CSRFToken': '{cookie:csrftoken}',
      'X-Missing': '[{cookie:nope}]',
      'X-Evil': '{cookie:evil}',
      'X-Xsrf-Token': '{cookie-decoded:XSRF-TOKEN}',
      'X-Raw-Xsrf': '{cookie:XSRF-TOKEN}',
      'X-Bad-Escape': '{cookie-decoded:bad}',
      'X-Decoded-Evil': '{cookie-decoded:evil2}',
      'Content-Length': '999',
      Connection: 'upgrade'
    },
    body: 'csrfmiddlewaretoken={cookie:csrftoken}&next=/&v={cookie:odd}',
    timeout: 5000
  }
  // As a raw header could only carry them if something upstream of the gateway let them through.
  const cookies = 'sessionid=ended1; csrftoken=tok123; evil=x\r\nX-Injected: 1; odd=a b&c=d; XSRF-TOKEN=eyJpdiI6Ij%3D%3D; bad=%E0%A4%A; evil2=x%0D%0AX-Injected:%201'
  const r = logoutRequest(conf, cookies, { host: 'app.example', 'x-forwarded-proto': 'https' })
  t.equal(r.method, 'POST')
  t.equal(r.path, '/admin/logout/')
  t.equal(r.headers.cookie, cookies, 'the cookies as given')
  t.equal(r.headers['x-csrftoken'], 'tok123', '{cookie:NAME} is that cookie\'s value')
  t.equal(r.headers['x-missing'], '[]', 'a missing cookie is empty')
  t.equal(r.headers['x-evil'], '', 'a value that is not printable ASCII is never put into a header')
  t.equal(r.headers['x-xsrf-token'], 'eyJpdiI6Ij==', '{cookie-decoded:NAME} is the value percent-decoded (Laravel\'s XSRF-TOKEN, as axios sends it)')
  t.equal(r.headers['x-raw-xsrf'], 'eyJpdiI6Ij%3D%3D', '{cookie:NAME} is as the browser sent it')
  t.equal(r.headers['x-bad-escape'], '', 'a value that does not decode gives nothing')
  t.equal(r.headers['x-decoded-evil'], '', 'a decoded CR/LF is never put into a header either')
  t.equal(r.body, 'csrfmiddlewaretoken=tok123&next=/&v=a%20b%26c%3Dd', 'in the body, values are percent-encoded')
  t.equal(r.headers['content-type'], 'application/x-www-form-urlencoded')
  t.equal(r.headers['content-length'], String(Buffer.byteLength(r.body ?? '')), 'the framing is the gateway\'s, not the configuration\'s')
  t.equal(r.headers.connection, undefined)
  t.equal(r.headers.host, 'app.example', 'presented as the browser')
  for (const [name, value] of Object.entries(r.headers)) {
    if (name === 'cookie') continue
    t.doesNotThrow(() => { validateHeaderName(name); validateHeaderValue(name, value) }, `${name} is a valid header`)
  }

  const bare = logoutRequest({ method: 'POST', path: '/logout', headers: {}, timeout: 5000 }, 'sid=1', {})
  t.equal(bare.body, undefined)
  t.equal(bare.headers['content-length'], '0', 'a POST without a body says so')
  t.equal(bare.headers['content-type'], undefined)

  t.equal(withOnlyValue('a=1; sessionid=live; b=2; sessionid=ended', 'sessionid', 'ended'), 'a=1; b=2; sessionid=ended', 'beside a live one, only the ended value is sent')
  t.equal(withOnlyValue('sessionid=ended;csrftoken=x', 'sessionid', 'ended'), 'sessionid=ended; csrftoken=x', 'otherwise the cookies as they came')
})

/** An app that records what it receives: a form login that sets sessionid and csrftoken, and 200 for anything else. */
async function startRecorder (t: Test): Promise<{ url: string, seen: Array<{ method: string, url: string, headers: IncomingHttpHeaders, body: string }> }> {
  const seen: Array<{ method: string, url: string, headers: IncomingHttpHeaders, body: string }> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => { chunks.push(c) })
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') })
      if (req.method === 'POST' && req.url === '/admin/login/') {
        res.writeHead(302, { location: '/', 'set-cookie': [`sessionid=${randomBytes(8).toString('hex')}; Path=/`, 'csrftoken=tok-1; Path=/'] })
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' })
      }
      res.end('ok\n')
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => { server.close(resolve) })
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
}

t.test('what the app receives: the ended cookie with the others, the CSRF token, Host and X-Forwarded-* as forwarded', async (t) => {
  const app = await startRecorder(t)
  const h = await startHarness(t, {
    upstream: app.url,
    yaml: `${APP_ROUTES}limit: 1\nended:\n  upstreamLogout: { path: /admin/logout/, headers: { X-CSRFToken: "{cookie:csrftoken}" }, body: "csrfmiddlewaretoken={cookie:csrftoken}&next=/" }\n`
  })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie ?? ''
  h.clock.advance(60_000)
  await h.device('browser').formLogin('alice')
  const refused = await laptop.send('/somewhere', { headers: { 'user-agent': 'LaptopBrowser/1', 'accept-language': 'fr' } })
  t.equal(refused.status, 303)
  await until('the logout', () => app.seen.some((r) => r.url === '/admin/logout/'))
  const logout = app.seen.find((r) => r.url === '/admin/logout/')
  const host = new URL(h.base).host
  t.match(logout, {
    method: 'POST',
    body: 'csrfmiddlewaretoken=tok-1&next=/',
    headers: {
      cookie: `sessionid=${cookie}; csrftoken=tok-1`,
      'x-csrftoken': 'tok-1',
      'content-type': 'application/x-www-form-urlencoded',
      host,
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': host,
      referer: `http://${host}/`,
      'user-agent': 'LaptopBrowser/1',
      'accept-language': 'fr'
    }
  }, 'the logout is presented as that browser\'s own request')
  t.equal(app.seen.filter((r) => r.url === '/somewhere').length, 0, 'the refused request itself never reached the app')
})

t.test('the stand-in app: the ended session is logged out of the app on its first request, once', async (t) => {
  const file = auditFile()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 1\n${CSRF_LOGOUT}audit: { file: ${file} }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie ?? ''
  t.ok(cookie)
  h.clock.advance(60_000)
  const phone = h.device('browser')
  await phone.formLogin('alice')
  t.ok(h.app.sessions.has(cookie), 'ended at the gateway, the session still lives in the app')
  const id = h.gateway.context.hash(cookie)

  const before = h.app.requests
  const refused = await laptop.send('/')
  t.equal(refused.status, 303, 'the laptop is refused at the gateway')
  await until('the logout', () => replays(file, id).length > 0)
  t.match(replays(file, id), [{ outcome: 'done', status: 302 }], 'the outcome is in the audit trail')
  t.equal(h.app.requests, before + 1, 'one request reached the app: its logout')
  t.notOk(h.app.sessions.has(cookie), 'the app\'s own session is gone')
  const direct = new Device(h.app.url)
  direct.jar.set('sessionid', cookie)
  t.equal(await direct.whoami(), 401, 'asked directly, the app no longer knows that cookie')
  t.equal(await phone.whoami(), 'alice', 'the other device is still signed in')
  t.match(h.logs.join('\n'), /"msg":"ended.upstreamLogout: the app logged the ended session out"/, 'and in the log')

  const again = h.app.requests
  const second = await h.device('browser').send('/admin/', { headers: { cookie: `sessionid=${cookie}; csrftoken=abc` } })
  t.equal(second.status, 303, 'refused again')
  await sleep(300)
  t.equal(h.app.requests, again, 'the logout is not replayed a second time')
  t.equal(replays(file, id).length, 1)
  t.notOk(h.logs.some((l) => l.includes(cookie)), 'the raw cookie is in no log line')
  t.notOk(readFileSync(file, 'utf8').includes(cookie), 'nor in the audit trail')
})

t.test('a session the app logged out itself is not replayed', async (t) => {
  const file = auditFile()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 1\n${CSRF_LOGOUT}audit: { file: ${file} }\n` })
  const d = h.device('browser')
  await d.formLogin('bob')
  const cookie = d.sessionCookie ?? ''
  await d.send('/admin/logout/', { method: 'POST' })
  const before = h.app.requests
  const r = await h.device('browser').send('/', { headers: { cookie: `sessionid=${cookie}` } })
  t.equal(r.status, 200, 'the logged-out cookie is taken out, the request goes on')
  await sleep(300)
  t.equal(h.app.requests, before + 1, 'only the request itself reached the app')
  t.same(replays(file, h.gateway.context.hash(cookie)), [])
})

t.test('the answer never waits for the logout; a slow or refusing app is a failure, logged and audited', async (t) => {
  const file = auditFile()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 1\nended:\n  upstreamLogout: { path: "/slow?ms=5000", timeout: 1s }\naudit: { file: ${file} }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const id = h.gateway.context.hash(laptop.sessionCookie ?? '')
  h.clock.advance(60_000)
  await h.device('browser').formLogin('alice')
  const refused = await laptop.send('/')
  t.equal(refused.status, 303)
  t.same(replays(file, id), [], 'answered while the logout is still under way')
  await until('the timeout', () => replays(file, id).length > 0)
  t.match(replays(file, id), [{ outcome: 'failed', error: 'no answer within 1000 ms' }], 'cut off at ended.upstreamLogout.timeout')
  t.match(h.logs.join('\n'), /"level":"warn".*"msg":"ended.upstreamLogout: the logout failed"/, 'a warning')

  const file2 = auditFile()
  const h2 = await startHarness(t, { yaml: `${APP_ROUTES}limit: 1\nended:\n  upstreamLogout: { method: GET, path: /status/403 }\naudit: { file: ${file2} }\n` })
  const a = h2.device('browser')
  await a.formLogin('carol')
  const id2 = h2.gateway.context.hash(a.sessionCookie ?? '')
  h2.clock.advance(60_000)
  await h2.device('browser').formLogin('carol')
  t.equal((await a.send('/')).status, 303)
  await until('the refusal', () => replays(file2, id2).length > 0)
  t.match(replays(file2, id2), [{ outcome: 'failed', status: 403 }], 'a 4xx answer is a failure')
  t.match(h2.logs.join('\n'), /"level":"warn".*"status":403.*"msg":"ended.upstreamLogout: the app refused the logout"/)
})

t.test('observe mode leaves the app\'s session alone; a person\'s act is still carried out', async (t) => {
  const file = auditFile()
  const yaml = `${APP_ROUTES}limit: 1\n${CSRF_LOGOUT}audit: { file: ${file} }\n`
  const h = await startHarness(t, { yaml })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie ?? ''
  h.clock.advance(60_000)
  const phone = h.device('browser')
  await phone.formLogin('alice')

  const observe = loadConfigText(`upstream: ${h.app.url}\nlisten: { host: 127.0.0.1, port: 0 }\nlog: { level: debug }\n${yaml}mode: observe\n`, 'test.yaml').config
  t.same(h.gateway.reload(observe).needRestart, [])
  t.equal(await laptop.whoami(), 'alice', 'observe mode lets the ended session through')
  await sleep(300)
  t.ok(h.app.sessions.has(cookie), 'and does not log it out of the app')
  t.same(replays(file, h.gateway.context.hash(cookie)), [])
  t.match(h.logs.join('\n'), /"msg":"observe: would log the session out of the app"/, 'it says what enforce would do')

  // An administrator's act is enforced in observe mode too, and so is its replay.
  const phoneCookie = phone.sessionCookie ?? ''
  const phoneId = h.gateway.context.hash(phoneCookie)
  await endSessions(h.gateway.context, [phoneId], 'ended_by_admin')
  const refused: Answer = await phone.send('/')
  t.equal(refused.status, 303, 'the ended phone is refused')
  await until('the logout', () => replays(file, phoneId).length > 0)
  t.match(replays(file, phoneId), [{ outcome: 'done' }])
  t.notOk(h.app.sessions.has(phoneCookie), 'and logged out of the app')
})

const PYTHON = '/usr/bin/python3'
const noDjango = spawnSync(PYTHON, ['-c', 'import django'], { encoding: 'utf8' }).status === 0
  ? false
  : `Django cannot be imported by ${PYTHON}: install python3-django (.ci/run does) to run the Django part`

async function djangoLogin (d: Device, user: string, password: string): Promise<Answer> {
  const page = await d.send('/admin/login/')
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  return await d.send('/admin/login/?next=/admin/', { form: { csrfmiddlewaretoken: token, username: user, password, next: '/admin/' } })
}

t.test('Django: the admin site\'s CSRF-protected logout', { skip: noDjango }, async (t) => {
  const django = await startDjango(t)
  t.comment(`Django ${django.version}`)
  /** Django asked directly, bypassing the gateway, with this sessionid. */
  const directly = async (sessionid: string): Promise<Answer> => {
    const d = new Device(django.url, 'browser')
    d.jar.set('sessionid', sessionid)
    return await d.send('/admin/')
  }

  /** Two logins of one user with limit 1: the first is ended at the gateway, then makes a request. */
  const endFirst = async (t: Test, yaml: string, user: string): Promise<{ file: string, cookie: string, id: string, other: Device }> => {
    const file = auditFile()
    const h = await startHarness(t, { upstream: django.url, yaml: `preset: django\nlimit: 1\n${yaml}audit: { file: ${file} }\n` })
    const laptop = h.device('browser')
    t.equal((await djangoLogin(laptop, user, `pw-${user}`)).status, 302, `Django signed ${user} in`)
    t.ok(laptop.jar.get('csrftoken'), 'the laptop holds Django\'s CSRF cookie')
    const cookie = laptop.sessionCookie ?? ''
    t.equal((await directly(cookie)).status, 200, 'the session is open in Django')
    h.clock.advance(60_000)
    const phone = h.device('browser')
    t.equal((await djangoLogin(phone, user, `pw-${user}`)).status, 302)
    const refused = await laptop.send('/admin/')
    t.equal(refused.status, 303, 'the first browser is refused at the gateway')
    const id = h.gateway.context.hash(cookie)
    await until('the logout', () => replays(file, id).length > 0)
    return { file, cookie, id, other: phone }
  }

  t.test('with X-CSRFToken: {cookie:csrftoken}, Django destroys the session', async (t) => {
    const { file, cookie, id, other } = await endFirst(t, CSRF_LOGOUT, 'alice')
    const [event] = replays(file, id)
    t.match(event, { outcome: 'done' }, 'Django accepted the logout')
    t.ok(typeof event?.status === 'number' && event.status >= 200 && event.status < 400, `with ${String(event?.status)}`)
    const after = await directly(cookie)
    t.equal(after.status, 302, 'asked directly with the old sessionid, Django is not signed in')
    t.match(after.headers.location, /^\/admin\/login\/\?next=\/admin\//, 'and sends it to the login page')
    t.equal((await other.send('/admin/')).status, 200, 'the other browser is still signed in')
  })

  t.test('without the CSRF token Django refuses (so the header is what makes it work)', async (t) => {
    const { file, cookie, id } = await endFirst(t, 'ended:\n  upstreamLogout: { path: /admin/logout/ }\n', 'bob')
    t.match(replays(file, id), [{ outcome: 'failed', status: 403 }], 'a failure in the audit trail')
    t.equal((await directly(cookie)).status, 200, 'and the session still lives in Django')
  })
})
