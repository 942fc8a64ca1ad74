import t from 'tap'
import { Agent, createServer, request as httpRequest, type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { request } from 'undici'
import { startHarness } from './helpers/harness.js'
import { MemoryStore } from '../src/store/memory-store.js'
import { CONTRACT_TIMEOUTS } from './store/contract.js'

/** What the app saw of one request: it arrived, and whether its connection closed before the app had answered. */
interface Seen {
  arrived: boolean
  /** The client side went away while the app was still thinking or still writing. */
  closedEarly: boolean
}

/**
 * An app that is slow on purpose: `/think` never answers by itself, `/trickle`
 * sends its headers and a first chunk, then one more chunk now and then, for
 * as long as someone reads. `/admin/login/` thinks like `/think` (after the
 * gateway has read the whole body, the buffered login path). `/ok` answers.
 */
async function startSlowApp (): Promise<{ url: string, seen: Map<string, Seen>, close: () => Promise<void> }> {
  const seen = new Map<string, Seen>()
  const timers = new Set<NodeJS.Timeout>()
  const watch = (req: IncomingMessage, res: ServerResponse): Seen => {
    const entry: Seen = { arrived: true, closedEarly: false }
    seen.set(req.url ?? '', entry)
    res.on('close', () => { if (!res.writableFinished) entry.closedEarly = true })
    return entry
  }
  const server = createServer((req, res) => {
    if (req.url === '/ok') { res.end('ok'); return }
    watch(req, res)
    req.resume()
    if (req.url === '/trickle') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.write(Buffer.alloc(1024, 'a'))
      const timer = setInterval(() => { res.write(Buffer.alloc(1024, 'b')) }, 20)
      timers.add(timer)
      res.on('close', () => { clearInterval(timer); timers.delete(timer) })
    }
    // Anything else: no answer until the connection closes.
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: async () => {
      for (const timer of timers) clearInterval(timer)
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => { resolve() }))
    }
  }
}

/** Polls until `check` holds; fails after a generous bound (a hang, not a slow machine, is what this catches). */
async function until (check: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > boundMs) throw new Error(`still waiting after ${boundMs} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A client request that the test can walk away from; errors from walking away are expected. */
function clientRequest (base: string, path: string, opts: { method?: string, headers?: Record<string, string> } = {}): ClientRequest {
  const req = httpRequest(`${base}${path}`, { method: opts.method ?? 'GET', headers: opts.headers, agent: false })
  req.on('error', () => {})
  return req
}

t.test('a client that goes away cancels its request to the app', async (t) => {
  const app = await startSlowApp()
  t.teardown(app.close)
  const h = await startHarness(t, { upstream: app.url })
  const seen = (path: string): Seen | undefined => app.seen.get(path)

  await t.test('while the app is still thinking', async (t) => {
    const req = clientRequest(h.base, '/think')
    req.end()
    await until(() => seen('/think')?.arrived === true, 'the app to receive the request')
    req.destroy()
    await until(() => seen('/think')?.closedEarly === true, "the app's request to close")
    t.pass("the app's request was closed")
  })

  await t.test('after sending a whole body the gateway read (a login), while the app is thinking', async (t) => {
    const body = 'username=alice&password=x'
    const req = clientRequest(h.base, '/admin/login/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) }
    })
    req.end(body)
    await until(() => seen('/admin/login/')?.arrived === true, 'the app to receive the login')
    req.destroy()
    await until(() => seen('/admin/login/')?.closedEarly === true, "the app's request to close")
    t.pass("the app's request was closed")
  })

  await t.test('halfway through sending a login body (which the gateway reads before the app does)', async (t) => {
    for (const pause of [0, 50]) {
      const req = clientRequest(h.base, `/admin/login/?partial=${pause}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '100' }
      })
      req.write('username=al')
      // Leaving at once, or once the gateway is (most likely) reading the body:
      // the two ways it can notice; both must be quiet.
      await new Promise((resolve) => setTimeout(resolve, pause))
      req.destroy()
    }
    // A later request on a new connection is answered after the gateway has dealt with both.
    const r = await request(`${h.base}/ok`)
    await r.body.text()
    t.equal(seen('/admin/login/?partial=0'), undefined, 'the app never saw the first')
    t.equal(seen('/admin/login/?partial=50'), undefined, 'nor the second')
  })

  await t.test('halfway through streaming a request body to the app', async (t) => {
    const req = clientRequest(h.base, '/upload', {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(1024 * 1024) }
    })
    req.write(Buffer.alloc(16 * 1024, 'u'))
    await until(() => seen('/upload')?.arrived === true, 'the app to start receiving the body')
    req.destroy()
    await until(() => seen('/upload')?.closedEarly === true, "the app's request to close")
    t.pass("the app's request was closed")
  })

  await t.test('while a slow answer is streaming', async (t) => {
    const req = clientRequest(h.base, '/trickle')
    const firstChunk = new Promise<void>((resolve) => {
      req.on('response', (res) => { res.once('data', () => { resolve() }) })
    })
    req.end()
    await firstChunk
    t.equal(seen('/trickle')?.closedEarly, false, 'the answer was still streaming when the client left')
    req.destroy()
    await until(() => seen('/trickle')?.closedEarly === true, "the app's answer stream to close")
    t.pass("the app's answer stream was closed")
  })

  await t.test('on a keep-alive connection, after requests it was answered on that connection', async (t) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    t.teardown(() => { agent.destroy() })
    const sockets = new Set<unknown>()
    for (let i = 0; i < 3; i++) {
      const answered = await new Promise<string>((resolve, reject) => {
        const req = httpRequest(`${h.base}/ok`, { agent }, (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => { text += chunk })
          res.on('end', () => { resolve(text) })
        })
        req.on('socket', (socket) => { sockets.add(socket) })
        req.on('error', reject)
        req.end()
      })
      t.equal(answered, 'ok', `request ${i + 1} answered in full`)
    }
    const req = httpRequest(`${h.base}/think-again`, { agent })
    req.on('error', () => {})
    req.on('socket', (socket) => { sockets.add(socket) })
    req.end()
    await until(() => seen('/think-again')?.arrived === true, 'the app to receive the request')
    t.equal(sockets.size, 1, 'all four requests on one connection')
    t.equal(seen('/think-again')?.closedEarly, false, 'the answered requests before it cancelled nothing')
    req.destroy()
    await until(() => seen('/think-again')?.closedEarly === true, "the app's request to close")
    t.pass("the app's request was closed")
  })

  await t.test('two pipelined requests on one connection, neither answered yet', async (t) => {
    const socket = connect(Number(new URL(h.base).port), '127.0.0.1')
    socket.on('error', () => {})
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    socket.write('GET /pipe-first HTTP/1.1\r\nHost: app\r\n\r\nGET /pipe-second HTTP/1.1\r\nHost: app\r\n\r\n')
    await until(() => seen('/pipe-first')?.arrived === true && seen('/pipe-second')?.arrived === true, 'the app to receive both')
    socket.destroy()
    await until(() => seen('/pipe-first')?.closedEarly === true, "the first's request to the app to close")
    await until(() => seen('/pipe-second')?.closedEarly === true, "the second's (its answer still queued behind the first) to close")
    t.pass('both requests to the app were closed')
  })

  await t.test('the gateway keeps working, and said nothing alarming', async (t) => {
    const r = await request(`${h.base}/ok`)
    t.equal(r.statusCode, 200)
    t.equal(await r.body.text(), 'ok')
    const levels = h.logs.map((line) => JSON.parse(line) as { level: string, msg?: string })
    t.same(levels.filter((l) => ['error', 'fatal'].includes(l.level)), [], 'no error-level log line')
    t.same(levels.filter((l) => ['warn', 'error', 'fatal'].includes(l.level)), [], 'no warning either: a client leaving is normal')
    t.equal(h.gateway.context.counters.upstreamErrors, 0, 'not counted as an upstream failure')
  })
})

/** A memory store whose admissions wait until the test opens the gate: a login the gateway is still recording. */
class GatedStore extends MemoryStore {
  #open: () => void = () => {}
  readonly #gate = new Promise<void>((resolve) => { this.#open = resolve })
  #entered: () => void = () => {}
  readonly entered = new Promise<void>((resolve) => { this.#entered = resolve })

  open (): void { this.#open() }

  override async admit (attempt: Parameters<MemoryStore['admit']>[0]): ReturnType<MemoryStore['admit']> {
    this.#entered()
    await this.#gate
    return await super.admit(attempt)
  }
}

t.test('a client that goes away while the gateway records its login: no error, and the gateway carries on', async (t) => {
  const store = new GatedStore({ maxSessions: 1000, timeouts: CONTRACT_TIMEOUTS })
  const h = await startHarness(t, { store })
  const body = 'username=alice&password=x'
  const req = clientRequest(h.base, '/admin/login/', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) }
  })
  req.end(body)
  // The app has answered; the gateway holds its answer while it records the login.
  await store.entered
  req.destroy()
  // Its only connection closed on the gateway's side too: the gateway has seen it go.
  let connections = -1
  await until(() => {
    h.gateway.app.server.getConnections((_err, n) => { connections = n })
    return connections === 0
  }, 'the gateway to see the client go')
  store.open()
  await until(() => h.logs.some((line) => line.includes('"login admitted"')), 'the login to be recorded')
  // A later request on a new connection is answered after the gateway has finished with the first.
  const r = await request(`${h.base}/status/200`)
  await r.body.text()
  t.equal(r.statusCode, 200, 'the gateway still answers')
  const levels = h.logs.map((line) => JSON.parse(line) as { level: string })
  t.same(levels.filter((l) => ['warn', 'error', 'fatal'].includes(l.level)), [], 'no warning or error logged')
})
