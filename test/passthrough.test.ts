import t from 'tap'
import { request } from 'undici'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { connect } from 'node:net'
import { dechunk, rawRequest } from './helpers/raw.js'

interface Echo { method: string, url: string, headers: Record<string, string>, body: string }

t.test('every method reaches the app with its body, path and query untouched', async (t) => {
  const h = await startHarness(t)
  for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'MKCOL', 'LOCK', 'REPORT', 'PURGE']) {
    const body = method === 'GET' ? undefined : `payload of ${method}`
    const r = await request(`${h.base}/echo?b=2&a=1&a=%20x+y&flag`, { method: method as 'GET', body, headers: { 'content-type': 'text/plain' } })
    const echo = await r.body.json() as Echo
    t.equal(echo.method, method)
    t.equal(echo.url, '/echo?b=2&a=1&a=%20x+y&flag', `${method}: the query string exactly as sent`)
    if (body !== undefined) t.equal(echo.body, body, `${method}: the body`)
  }
  const head = await request(`${h.base}/echo`, { method: 'HEAD' })
  await head.body.text()
  t.equal(head.statusCode, 200)
})

/**
 * A request sent as curl sends a body over 1 MB (and .NET's HttpClient with
 * ExpectContinue): the headers with `Expect: 100-continue`, the body only once
 * the server says `100 Continue`. Returns what came before the body was
 * sent, and the final answer.
 */
async function expectContinue (base: string, head: string, body: string): Promise<{ interim: string, status: number, body: string }> {
  const url = new URL(base)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname)
    let text = ''
    let interim: string | undefined
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no answer in time: ${JSON.stringify(text.slice(0, 200))}`)) }, 10_000)
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1')
      if (interim !== undefined || !text.includes('\r\n\r\n')) return
      interim = text.slice(0, text.indexOf('\r\n\r\n') + 4)
      if (!interim.startsWith('HTTP/1.1 100 ')) return
      text = text.slice(interim.length)
      socket.write(body)
    })
    // (Connection: close: the answer ends with the connection. Refused before the body, the connection may close while it is written.)
    const done = (): void => {
      clearTimeout(timer)
      if (interim === undefined) { reject(new Error('closed without an answer')); return }
      const split = text.indexOf('\r\n\r\n')
      const answerHead = text.slice(0, split)
      const rest = text.slice(split + 4)
      resolve({ interim, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answerHead)?.[1] ?? 0), body: /^transfer-encoding:\s*chunked/im.test(answerHead) ? dechunk(rest) : rest })
    }
    socket.on('close', done)
    socket.on('error', () => {})
    socket.write(`${head}Expect: 100-continue\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`)
  })
}

t.test('Expect: 100-continue (curl above 1 MB): the client is told to go on, and the app gets the body', async (t) => {
  const h = await startHarness(t)
  const before = h.app.requests
  const body = 'x'.repeat(1_500_000)
  const upload = await expectContinue(h.base, `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n`, body)
  t.match(upload.interim, /^HTTP\/1\.1 100 Continue\r\n/, 'told to send the body')
  t.equal(upload.status, 200, 'the app\'s answer')
  const echo = JSON.parse(upload.body) as Echo
  t.equal(echo.body.length, body.length, 'with the whole body')
  t.equal(echo.headers.expect, undefined, 'the expectation was met by the gateway: not sent on')
  t.equal(h.app.requests, before + 1)
  const form = 'username=alice&password=secret'
  const login = await expectContinue(h.base, `POST /admin/login/ HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n`, form)
  t.equal(login.status, 302, 'a login sent so signs in')
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'and is counted')
})

t.test('bodies of any type stream through, whatever the content type', async (t) => {
  const h = await startHarness(t)
  for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'multipart/form-data; boundary=x', undefined]) {
    const body = type === 'application/json' ? '{"a":  1, "a": 2}' : `raw body for ${String(type)}`
    const headers: Record<string, string> = type === undefined ? {} : { 'content-type': type }
    const r = await request(`${h.base}/echo`, { method: 'POST', body, headers })
    const echo = await r.body.json() as Echo
    t.equal(echo.body, body, `${String(type)}: byte for byte`)
  }
})

t.test('several Set-Cookie headers stay separate and in order', async (t) => {
  const h = await startHarness(t)
  const r = await h.device().send('/multi-cookie')
  t.same(r.setCookies, ['a=1; Path=/', 'b=2; Path=/', 'c=3; Path=/', 'a=4; Path=/x'])
})

t.test('X-Forwarded-For/-Proto/-Host are set, and a client cannot forge or strip them', async (t) => {
  const h = await startHarness(t)
  const r = await request(`${h.base}/echo`, {
    headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-host': 'evil.test', forwarded: 'for=6.6.6.6', host: 'shop.example:8080' }
  })
  const echo = await r.body.json() as Echo
  t.equal(echo.headers['x-forwarded-for'], '127.0.0.1', 'the chain starts at the gateway when no proxy is trusted')
  t.equal(echo.headers['x-forwarded-proto'], 'http')
  t.equal(echo.headers['x-forwarded-host'], 'shop.example:8080')
  t.equal(echo.headers.forwarded, undefined, 'an untrusted Forwarded header is dropped')
  t.equal(echo.headers.host, 'shop.example:8080', 'the Host header is preserved by default')

  const sneaky = await rawRequest(h.base, 'GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close, x-forwarded-for, x-forwarded-proto\r\n\r\n')
  const sneakyEcho = JSON.parse(sneaky.body) as Echo
  t.equal(sneakyEcho.headers['x-forwarded-for'], '127.0.0.1', 'Connection: x-forwarded-for does not remove it')
  t.equal(sneakyEcho.headers['x-forwarded-proto'], 'http')
})

t.test('behind a trusted proxy the X-Forwarded-For chain is extended', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}proxy: { trustProxy: [127.0.0.1], preserveHost: false }\n` })
  const r = await request(`${h.base}/echo`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example' } })
  const echo = await r.body.json() as Echo
  t.equal(echo.headers['x-forwarded-for'], '203.0.113.7, 127.0.0.1')
  t.equal(echo.headers['x-forwarded-proto'], 'https')
  t.equal(echo.headers['x-forwarded-host'], 'shop.example')
  t.equal(echo.headers.host, new URL(h.app.url).host, 'preserveHost: false sends the app\'s own host')
})

t.test('the client\'s Connection: close is honoured; the app\'s keep-alive headers stay between gateway and app', async (t) => {
  const h = await startHarness(t)
  const r = await rawRequest(h.base, 'GET /status/200 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(r.head, /\r\nConnection: close/i)
  t.notMatch(r.head, /keep-alive/i)
})

t.test('the app\'s answers pass as they are: statuses, and no retry of a 503', async (t) => {
  const h = await startHarness(t)
  for (const code of [200, 204, 301, 404, 418, 500, 503]) {
    const before = h.app.requests
    const r = await request(`${h.base}/status/${code}`)
    await r.body.text()
    t.equal(r.statusCode, code)
    t.equal(h.app.requests - before, 1, `${code}: asked exactly once`)
  }
})

t.test('odd paths and encodings get a bounded answer, and the gateway stays up', async (t) => {
  const h = await startHarness(t)
  for (const path of ['/..%2f..%2fetc/passwd', '/a/../../b', '//double//slash', '/%zz', '/%00', '/' + 'a'.repeat(8000), '/ümlaut', '/a;jsessionid=1']) {
    const r = await rawRequest(h.base, `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)
    t.ok(r.status >= 200 && r.status < 600, `${path.slice(0, 40)} -> ${r.status}`)
  }
  const traversal = await rawRequest(h.base, 'GET /a/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(traversal.status, 400)
  t.match(traversal.body, /SESSIONCAP_ERR_BAD_REQUEST_PATH/)
  t.equal(await h.device().send('/api/me').then((r) => r.status), 401, 'still serving')
})
