import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import { constants } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import { request, Agent } from 'undici'
import WebSocket from 'ws'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { makeCertificate, type TestCertificate } from './helpers/certificates.js'
import { H2Client, type H2Answer } from './helpers/h2.js'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { loadConfigText } from '../src/config/load.js'
import { createGateway } from '../src/proxy/gateway.js'

// listen.http2: browsers speak HTTP/2 to the gateway (ALPN "h2"), the
// gateway speaks HTTP/1.1 to the app; HTTP/1.1 clients and WebSocket
// upgrades keep working on the same port. Real TLS and node:http2 over
// loopback, in front of the stand-in app.

const MIN = 60_000
const HTML = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

interface H2Gateway { h: Harness, cert: TestCertificate }

async function h2Gateway (t: Test, yaml = APP_ROUTES): Promise<H2Gateway> {
  const cert = makeCertificate(t.testdir(), 'gateway')
  const h = await startHarness(t, { yaml, listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true`, ca: cert.pem })
  return { h, cert }
}

function sessionOf (answer: H2Answer): string {
  const value = /^sessionid=([0-9a-f]{32});/.exec(answer.setCookies.find((c) => c.startsWith('sessionid=')) ?? '')?.[1]
  if (value === undefined) throw new Error(`no session cookie in ${answer.status} ${JSON.stringify(answer.setCookies)}`)
  return value
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }

/** The stand-in app's routes, with more login routes. */
function routes (...more: string[]): string {
  return APP_ROUTES.replace('logout:', `${more.map((r) => `  - ${r}\n`).join('')}logout:`)
}

t.test('HTTP/2 through to the app: a page, a login, a refused ended session', async (t) => {
  const { h, cert } = await h2Gateway(t)
  const laptop = await H2Client.open(t, h.base, cert.pem)
  t.equal(laptop.protocol, 'h2', 'ALPN chose HTTP/2')

  const home = await laptop.send('/', { headers: { accept: HTML } })
  t.equal(home.status, 200)
  t.match(home.text, /Legacy app/, 'the app\'s page')
  t.equal(home.headers.connection, undefined, 'no connection-specific header on HTTP/2 (RFC 9113 §8.2.2)')
  t.equal((await laptop.send('/admin/login/')).status, 200, 'the login form')

  const body = 'username=alice&password=secret'
  const login = await laptop.send('/admin/login/', { headers: { ...FORM, 'content-length': String(body.length) }, body })
  t.equal(login.status, 302, 'the app\'s login answer')
  const first = sessionOf(login)
  t.same((await laptop.send('/api/me', { headers: { cookie: `sessionid=${first}` } })).json(), { username: 'alice', role: 'staff' })
  t.equal(h.app.sessions.get(first)?.user, 'alice')

  h.clock.advance(MIN)
  const phone = await H2Client.open(t, h.base, cert.pem)
  const second = sessionOf(await phone.send('/admin/login/', { headers: FORM, body: 'username=alice&password=secret' }))
  t.not(second, first)

  // The laptop's session was ended: a browser is sent to the signed-out page, its cookies cleared (Secure: it is HTTPS).
  const before = h.app.requests
  const ended = await laptop.send('/', { headers: { accept: HTML, cookie: `sessionid=${first}` } })
  t.equal(ended.status, 303)
  t.match(String(ended.headers.location), /^\/\.sessioncap\/ended\?n=/)
  t.match(ended.setCookies, [/^sessionid=; .*Secure/, /^remember_me=; .*Secure/])
  const api = await laptop.send('/api/me', { headers: { accept: 'application/json', cookie: `sessionid=${first}` } })
  t.equal(api.status, 401)
  t.same(api.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'concurrent_login_limit' })
  t.equal(h.app.requests, before, 'the ended session never reached the app')
  const page = await laptop.send(String(ended.headers.location), { headers: { accept: HTML } })
  t.equal(page.status, 200, 'the signed-out page over HTTP/2')
  t.match(page.text, /another device|elsewhere/i)
  t.same((await phone.send('/api/me', { headers: { cookie: `sessionid=${second}` } })).json(), { username: 'alice', role: 'staff' }, 'the new session goes on')
})

t.test('the gateway\'s pages over HTTP/2: the sessions page lists and signs out another device', async (t) => {
  const { h, cert } = await h2Gateway(t, `${APP_ROUTES}limit: 2\n`)
  const laptop = await H2Client.open(t, h.base, cert.pem)
  const phone = await H2Client.open(t, h.base, cert.pem)
  const mine = sessionOf(await laptop.send('/admin/login/', { headers: FORM, body: 'username=alice&password=x' }))
  h.clock.advance(MIN)
  const other = sessionOf(await phone.send('/admin/login/', { headers: FORM, body: 'username=alice&password=x' }))
  const page = await laptop.send('/.sessioncap/sessions', { headers: { accept: HTML, cookie: `sessionid=${mine}` } })
  t.equal(page.status, 200)
  t.equal(page.headers['cache-control'], 'no-store')
  t.match(page.text, /This device/)
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.text)?.[1] ?? ''
  // The form as a browser posts it, here without Content-Length.
  const posted = await laptop.send('/.sessioncap/sessions', { headers: { ...FORM, accept: HTML, cookie: `sessionid=${mine}` }, body: `csrf=${encodeURIComponent(csrf)}&action=end-others` })
  t.equal(posted.status, 303)
  t.equal(posted.headers.location, '/.sessioncap/sessions?done=1')
  const refused = await phone.send('/', { headers: { accept: HTML, cookie: `sessionid=${other}` } })
  t.equal(refused.status, 303, 'the other device is signed out')
  t.match(String(refused.headers.location), /^\/\.sessioncap\/ended\?n=/)
  t.equal((await laptop.send('/api/me', { headers: { cookie: `sessionid=${mine}` } })).status, 200, 'this one goes on')
})

t.test('a cookie split over several HTTP/2 header fields is judged and forwarded as one Cookie header', async (t) => {
  // GET /echo is on a login route's path: an ended value is taken out there, and the app shows what it got.
  const { h, cert } = await h2Gateway(t, routes('{ method: POST, path: /echo, user: { form: username } }'))
  const c = await H2Client.open(t, h.base, cert.pem)
  // RFC 9113 §8.2.3: a client may send each cookie-pair as a field of its own; Node joins them with "; ".
  const echo = await c.send('/echo', { headers: { cookie: ['a=1', 'b=2', 'c=3'] } })
  const seen = (echo.json() as { headers: Record<string, unknown> }).headers
  t.equal(seen.cookie, 'a=1; b=2; c=3', 'the app gets one Cookie header (HTTP/1.1 allows no more, RFC 6265 §5.4)')
  t.equal(seen.host, new URL(h.base).host, 'the Host the client asked for (its :authority): proxy.preserveHost')
  t.equal(seen['x-forwarded-proto'], 'https')
  t.equal(seen['x-forwarded-host'], new URL(h.base).host)

  const dead = sessionOf(await c.send('/admin/login/', { headers: FORM, body: 'username=bob&password=x' }))
  h.clock.advance(MIN)
  const live = sessionOf(await c.send('/admin/login/', { headers: FORM, body: 'username=bob&password=x' }))
  const before = h.app.requests
  for (const crumbs of [[`sessionid=${live}`, 'x=1', `sessionid=${dead}`], [`sessionid=${dead}`, `sessionid=${live}`]]) {
    const r = await c.send('/api/me', { headers: { accept: 'application/json', cookie: crumbs } })
    t.equal(r.status, 401, 'an ended value in any field is refused')
  }
  t.equal(h.app.requests, before, 'neither reached the app')
  const onLoginPath = await c.send('/echo', { headers: { cookie: [`sessionid=${dead}`, 'x=1', `sessionid=${live}`] } })
  t.equal((onLoginPath.json() as { headers: Record<string, unknown> }).headers.cookie, `x=1; sessionid=${live}`, 'the ended crumb taken out of the joined header')
})

t.test('HTTP/2 bodies: without Content-Length (or Content-Type) they reach the login check and the app whole', async (t) => {
  const { h, cert } = await h2Gateway(t, routes('{ method: POST, path: /api/small-login, user: { json: /email }, maxBodyBytes: 200 }'))
  const c = await H2Client.open(t, h.base, cert.pem)
  // A form login whose length is not announced (a streaming client): the user is still read.
  const form = await c.send('/admin/login/', { headers: FORM, body: 'username=carol&password=x' })
  t.equal(form.status, 302)
  t.equal(h.app.sessions.get(sessionOf(form))?.user, 'carol', 'the app got the whole body')
  // No Content-Type either: Fastify would take the request for bodiless.
  const bare = await c.send('/admin/login/', { body: 'username=carol&password=x' })
  t.equal(bare.status, 302, 'the login went through, its user read')
  t.equal(h.app.sessions.get(sessionOf(bare))?.user, 'carol')
  t.equal((await c.send('/api/me', { headers: { accept: 'application/json', cookie: `sessionid=${sessionOf(form)}` } })).status, 401, 'and it counted: the first carol session ended (limit 1)')

  const json = await c.send('/api/login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'Dave@example.test', password: 'x' }) })
  t.equal(json.status, 200)
  t.same(json.json(), { user: 'Dave@example.test', role: 'staff' })

  const big = await c.send('/api/small-login', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'eve@example.test', pad: 'x'.repeat(400) }) })
  t.equal(big.status, 413, 'a login body over maxBodyBytes, length unannounced')
  // Far more than a flow-control window (64 KiB): the client cannot send it all unless the gateway reads it.
  const huge = await c.send('/api/small-login', { headers: { 'content-type': 'application/json' }, body: Buffer.alloc(4 * 1024 * 1024, ' ') })
  t.equal(huge.status, 413)
  // (Node's client marks the stream closed on the reset; its 'close' waits for the unsent body to be dropped.)
  const deadline = Date.now() + 10_000
  while (!huge.stream.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(huge.stream.closed, 'the gateway resets the stream once answered (RFC 9113 §8.1): the client stops sending')
  t.equal(huge.stream.rstCode, 0, 'with NO_ERROR')
  t.equal((await c.send('/')).status, 200, 'the connection goes on (HTTP/2 has no Connection: close)')

  const upload = Buffer.alloc(300_000, 'u')
  const up = await c.send('/upload', { body: upload })
  t.same(up.json(), { bytes: upload.length, sha256: createHash('sha256').update(upload).digest('hex') }, 'an upload without Content-Length or Content-Type')
})

t.test('an HTTP/2 client that cancels its request cancels the request to the app', async (t) => {
  // An app that never answers /think, and says when its connection closed before it had answered.
  let closedEarly = false
  let arrived = false
  const slow = createHttpServer((req, res) => {
    if (req.url !== '/think') { res.end('ok'); return }
    arrived = true
    req.resume()
    res.on('close', () => { if (!res.writableFinished) closedEarly = true })
  })
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { slow.closeAllConnections(); await new Promise((resolve) => slow.close(resolve)) })
  const cert = makeCertificate(t.testdir(), 'gateway')
  const h = await startHarness(t, { upstream: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`, listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true`, ca: cert.pem })
  const c = await H2Client.open(t, h.base, cert.pem)
  const stream = c.session.request({ ':path': '/think' })
  stream.on('error', () => {})
  while (!arrived) await new Promise((resolve) => setTimeout(resolve, 20))
  stream.close(constants.NGHTTP2_CANCEL)
  const deadline = Date.now() + 10_000
  while (!closedEarly && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.ok(closedEarly, 'the app saw its connection close: nobody waits for its answer any more')
  t.equal((await c.send('/ok')).status, 200, 'the client\'s connection goes on')
})

t.test('an HTTP/2 client that cancels its login before the answer is neutral for the login guard (refunded, never counted)', async (t) => {
  const { h, cert } = await h2Gateway(t)
  const c = await H2Client.open(t, h.base, cert.pem)
  const before = h.app.loginPosts
  for (let i = 0; i < 8; i++) {
    // "slow": the app answers after 2 s; the client cancels its stream once the login reached the app.
    const stream = c.session.request({ ':method': 'POST', ':path': '/admin/login/', ...FORM })
    stream.on('error', () => {})
    stream.end('username=alice&password=slow')
    const deadline = Date.now() + 10_000
    while (h.app.loginPosts - before < i + 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
    t.equal(h.app.loginPosts - before, i + 1, `cancelled login ${i + 1} reached the app (the earlier ones were refunded)`)
    stream.close(constants.NGHTTP2_CANCEL)
  }
  // The refunds land when each stream closes, in the background: give them a moment.
  await new Promise((resolve) => setTimeout(resolve, 300))
  for (let i = 0; i < 5; i++) t.equal((await c.send('/admin/login/', { method: 'POST', headers: FORM, body: 'username=alice&password=wrong' })).status, 200, `failure ${i + 1} is still allowed`)
  t.equal((await c.send('/admin/login/', { method: 'POST', headers: FORM, body: 'username=alice&password=wrong' })).status, 429, 'the 6th is refused: the cancelled ones counted for nothing')
})

t.test('a path with raw bytes beyond ASCII is refused over HTTP/2 as over HTTP/1.1, before the app', async (t) => {
  const { h, cert } = await h2Gateway(t)
  const client = await H2Client.open(t, h.base, cert.pem)
  const before = h.app.requests
  for (const path of ['/echo?q=caf\u00c3\u00a9', '/caf\u00c3\u00a9', '/echo?q=\u0080', '/echo?q=\u00ff']) {
    const r = await client.send(path)
    t.equal(r.status, 400, `HTTP/2 ${JSON.stringify(path)}`)
    t.match(r.text, /SESSIONCAP_ERR_BAD_REQUEST_PATH/)
  }
  t.equal(h.app.requests, before, 'none reached the app')
  const encoded = await client.send('/echo?q=caf%C3%A9')
  t.equal(encoded.status, 200, 'percent-encoded, as browsers send it, it passes')
  t.match(encoded.json(), { url: '/echo?q=caf%C3%A9' }, 'exactly as sent')
  // The same bytes over HTTP/1.1: Node's parser refuses them before the gateway sees them.
  const h1 = await new Promise<string>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: Number(new URL(h.base).port), ca: cert.pem, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => {
      s.end(Buffer.concat([Buffer.from('GET /echo?q=caf'), Buffer.from([0xc3, 0xa9]), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')]))
    })
    let text = ''
    s.on('data', (c: Buffer) => { text += c.toString('latin1') })
    s.once('end', () => { resolve(text) })
    s.once('error', reject)
  })
  t.match(h1, /^HTTP\/1\.1 400 /, 'HTTP/1.1: 400 from Node\'s parser')
  t.equal(h.app.requests, before + 1, 'and the app saw only the percent-encoded one')
})

t.test('a method HTTP/1.1 would not let through is answered 501 over HTTP/2, before the app and without a warning', async (t) => {
  const { h, cert } = await h2Gateway(t)
  const client = await H2Client.open(t, h.base, cert.pem)
  const before = h.app.requests
  const warnings = (): number => h.logs.filter((l) => /"level":"(warn|error)"/.test(l)).length
  const warned = warnings()
  for (const method of ['post', 'Get', 'BREW', 'FOO']) {
    const r = await client.send('/echo', { method })
    t.equal(r.status, 501, method)
    t.equal(r.text, 'the request method is not one the gateway forwards (SESSIONCAP_ERR_METHOD_NOT_SUPPORTED)\n')
  }
  const withBody = await client.send('/echo', { method: 'BREW', body: 'x'.repeat(100_000) })
  t.equal(withBody.status, 501, 'with content still coming too: answered, and the stream closed')
  t.equal(h.app.requests, before, 'none reached the app')
  t.equal(warnings(), warned, 'nothing logged above info')
  for (const method of ['POST', 'M-SEARCH', 'PROPFIND']) {
    const r = await client.send('/echo', { method })
    t.equal(r.status, 200, `${method} is forwarded as before`)
    t.match(r.json(), { method })
  }
  t.equal((await client.send('/echo')).status, 200, 'the connection still serves')
})

t.test('HTTP/1.1 on the same port (ALPN), WebSocket upgrades included', async (t) => {
  const { h, cert } = await h2Gateway(t)
  const alpn = await new Promise<string | false | null>((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port: Number(new URL(h.base).port), ca: cert.pem, servername: 'localhost', ALPNProtocols: ['http/1.1'] }, () => { resolve(s.alpnProtocol); s.end() })
    s.once('error', reject)
  })
  t.equal(alpn, 'http/1.1', 'a client that offers only HTTP/1.1 gets it')

  const d = h.device()
  const login = await d.formLogin('alice')
  t.equal(login.status, 302, 'an HTTP/1.1 login (undici)')
  t.equal(await d.whoami(), 'alice')
  const agent = new Agent({ connect: { ca: cert.pem } })
  t.teardown(async () => { await agent.close() })
  const echo = await request(`${h.base}/echo`, { dispatcher: agent, headers: { connection: 'keep-alive' } })
  t.equal(echo.statusCode, 200)
  t.match(await echo.body.json(), { headers: { host: new URL(h.base).host } })

  const url = `${h.base.replace(/^https/, 'wss')}/ws`
  const ws = new WebSocket(url, { ca: cert.pem, headers: { cookie: `sessionid=${d.sessionCookie ?? ''}` } })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code: number) => { resolve(code) }) })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  const reply = new Promise<string>((resolve) => { ws.once('message', (m: Buffer) => { resolve(m.toString()) }) })
  ws.send('hello')
  t.equal(await reply, 'alice: hello', 'the upgrade passed, with the session')
  h.clock.advance(MIN)
  await h.device().formLogin('alice')
  t.equal(await closed, 1008, 'and the socket closes when the session ends elsewhere')
})

t.test('Gateway.close with HTTP/2 sessions open: a GOAWAY, the stream under way finishes, the close does not wait for the idle one', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const cert = makeCertificate(t.testdir(), 'gateway')
  const { config } = loadConfigText(`upstream: ${app.url}\nlisten: { host: 127.0.0.1, port: 0, tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true }\nlog: { level: warn }\n${APP_ROUTES}`)
  const gateway = await createGateway(config, { logStream: new Writable({ write (_chunk, _encoding, done) { done() } }) })
  const base = await gateway.listen()
  const idle = await H2Client.open(t, base, cert.pem)
  t.equal((await idle.send('/')).status, 200)
  const busy = await H2Client.open(t, base, cert.pem)
  const before = app.requests
  const slow = busy.send('/slow?ms=500')
  while (app.requests === before) await new Promise((resolve) => setTimeout(resolve, 20))
  const goaway = new Promise<number>((resolve) => { idle.session.once('goaway', (code: number) => { resolve(code) }) })
  const closed = gateway.close().then(() => 'closed')
  t.equal(await goaway, 0, 'the idle session is told to go away (NO_ERROR)')
  t.equal((await slow).status, 200, 'the request under way is answered')
  // Before Node 24 the close would otherwise wait out the session timeout (72 s).
  const late = new Promise<string>((resolve) => { setTimeout(() => { resolve('late') }, 20_000).unref() })
  t.equal(await Promise.race([closed, late]), 'closed')
})

t.test('SIGTERM with HTTP/2 connections open: the request in flight completes, idle sessions do not hold the stop', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const cert = makeCertificate(t.testdir(), 'gateway')
  const gw = await startGatewayProcess(t, `upstream: ${app.url}\nshutdownTimeout: 10m\n${APP_ROUTES}`, { listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true` })
  t.match(gw.base, /^https:/)
  const idle = await H2Client.open(t, gw.base, cert.pem)
  t.equal((await idle.send('/')).status, 200, 'a session that then sits idle')
  const busy = await H2Client.open(t, gw.base, cert.pem)
  const before = app.requests
  const slow = busy.send('/slow?ms=1500')
  while (app.requests === before) await new Promise((resolve) => setTimeout(resolve, 20))
  const mark = gw.output().length
  gw.child.kill('SIGTERM')
  await gw.waitFor(/stopping: refusing new connections/, mark)
  const answer = await slow
  t.equal(answer.status, 200)
  t.match(answer.text, /slow answer/)
  // Without a GOAWAY the idle session would hold the stop for the session timeout (72 s).
  const deadline = new Promise<'late'>((resolve) => { const timer = setTimeout(() => { resolve('late') }, 30_000); timer.unref() })
  t.equal(await Promise.race([gw.exited, deadline]), 0, 'the process exits 0 once the request is answered')
  t.notMatch(gw.output(), /closing the connections of requests still in flight/, 'nothing had to be cut')
})

t.test('a second SIGTERM cuts the HTTP/2 streams still in flight; the process still exits 0', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const cert = makeCertificate(t.testdir(), 'gateway')
  const gw = await startGatewayProcess(t, `upstream: ${app.url}\nshutdownTimeout: 10m\n${APP_ROUTES}`, { listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }, http2: true` })
  const c = await H2Client.open(t, gw.base, cert.pem)
  const before = app.requests
  const stuck = c.send('/slow?ms=600000').then(() => 'answered', () => 'cut')
  while (app.requests === before) await new Promise((resolve) => setTimeout(resolve, 20))
  const mark = gw.output().length
  gw.child.kill('SIGTERM')
  await gw.waitFor(/stopping: refusing new connections/, mark)
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.equal(await stuck, 'cut')
  t.match(gw.output(), /"why":"second SIGTERM"/)
})
