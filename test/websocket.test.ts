import t from 'tap'
import { once } from 'node:events'
import { connect } from 'node:net'
import { request } from 'undici'
import WebSocket from 'ws'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { startHarness } from './helpers/harness.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'
import { startRelay } from './helpers/tcp-relay.js'

function wsUrl (base: string): string {
  return base.replace(/^http/, 'ws') + '/ws'
}

async function exchange (url: string, headers: Record<string, string>, message: string): Promise<string> {
  const ws = new WebSocket(url, { headers })
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve() })
      ws.once('unexpected-response', (_req, res) => { reject(new Error(`refused with ${String(res.statusCode)}`)) })
      ws.once('error', reject)
    })
    const reply = new Promise<string>((resolve) => { ws.once('message', (data: Buffer) => { resolve(data.toString()) }) })
    ws.send(message)
    return await reply
  } finally {
    ws.terminate()
  }
}

t.test('WebSocket upgrades pass through, with the session and the client\'s headers', async (t) => {
  const h = await startHarness(t, { realClock: true })
  const d = h.device()
  await d.formLogin('alice')
  t.equal(await exchange(wsUrl(h.base), { cookie: `sessionid=${d.sessionCookie ?? ''}`, origin: 'http://shop.example' }, 'hello'), 'alice: hello')
  t.equal(await exchange(wsUrl(h.base), {}, 'hi'), 'anonymous: hi')
})

t.test('an ended session cannot open a WebSocket', async (t) => {
  const h = await startHarness(t, { realClock: true })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie ?? ''
  await h.device().formLogin('alice')
  const before = h.app.requests
  await t.rejects(exchange(wsUrl(h.base), { cookie: `sessionid=${cookie}` }, 'hello'), /refused with 401/)
  t.equal(h.app.requests, before, 'the upgrade never reached the app')
})

/** Opens a socket and resolves, when it closes, with the close code. */
async function openSocket (url: string, cookie: string): Promise<{ ws: WebSocket, closed: Promise<number> }> {
  const ws = new WebSocket(url, { headers: { cookie } })
  const closed = new Promise<number>((resolve) => { ws.once('close', (code: number) => { resolve(code) }) })
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve() }); ws.once('error', reject) })
  // A round trip, so the gateway has registered the connection.
  const echo = new Promise<string>((resolve) => { ws.once('message', (d: Buffer) => { resolve(d.toString()) }) })
  ws.send('ping')
  await echo
  return { ws, closed }
}

t.test('an open WebSocket is closed when its session is ended by a sign-in elsewhere', async (t) => {
  const h = await startHarness(t, { realClock: true })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const { closed } = await openSocket(wsUrl(h.base), `sessionid=${laptop.sessionCookie ?? ''}`)
  await h.device().formLogin('alice')
  t.equal(await closed, 1008, 'closed with "policy violation" (session ended)')
})

t.test('an open WebSocket is closed on logout, and one of another session is not', async (t) => {
  const h = await startHarness(t, { realClock: true, yaml: 'session: { cookie: sessionid }\nlogin:\n  - { path: /admin/login/, user: { form: username } }\nlimit: 0\n' })
  const a = h.device()
  const b = h.device()
  await a.formLogin('alice')
  await b.formLogin('alice')
  const sa = await openSocket(wsUrl(h.base), `sessionid=${a.sessionCookie ?? ''}`)
  const sb = await openSocket(wsUrl(h.base), `sessionid=${b.sessionCookie ?? ''}`)
  await a.send('/api/logout', { method: 'POST' })
  t.equal(await sa.closed, 1008)
  const echo = new Promise<string>((resolve) => { sb.ws.once('message', (d: Buffer) => { resolve(d.toString()) }) })
  sb.ws.send('still here?')
  t.equal(await echo, 'alice: still here?', 'the other session\'s socket is untouched')
  sb.ws.terminate()
})

t.test('a WebSocket follows its session through a rotation', async (t) => {
  const h = await startHarness(t, { realClock: true })
  const laptop = h.device()
  await laptop.formLogin('alice')
  const { closed } = await openSocket(wsUrl(h.base), `sessionid=${laptop.sessionCookie ?? ''}`)
  await laptop.send('/rotate', { method: 'POST' })
  await h.device().formLogin('alice')
  t.equal(await closed, 1008, 'ending the rotated session closed the socket opened before the rotation')
})

t.test('a client that resets its upgrade while the session check waits for Redis ends that socket only', async (t) => {
  // Node takes its 'error' listener off an upgrade's socket, and ws adds its
  // own only after the gateway's hooks: a reset in between was an 'error'
  // nobody listened for, and the process died (server-options.ts).
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const redis = await startRedis(t, { persistent: false })
  const relay = await startRelay(t, redis.port)
  const gw = await startGatewayProcess(t, `upstream: ${app.url}
secret: ${TEST_SECRET}
session: { cookie: sessionid }
login: [{ method: POST, path: /api/login, user: { json: /email } }]
store: { type: redis, url: "${relay.url}", keyPrefix: "${freshPrefix()}", commandTimeout: 10s }
`)
  // From now on Redis's answers to a lookup are held back: the check of the cookie below waits.
  const LOOKUP = /\r\n(eval|evalsha|get|hget|hmget|mget)\r\n/i
  const before = relay.count(LOOKUP)
  relay.holdRepliesAfter(LOOKUP)
  const socket = connect(Number(new URL(gw.base).port), '127.0.0.1')
  socket.on('error', () => {})
  await once(socket, 'connect')
  socket.write('GET /ws HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: sessionid=some-session\r\n\r\n')
  await relay.seen(LOOKUP, before + 1)
  socket.resetAndDestroy()
  // The reset reaches the gateway at once; it is answered by the next request's time.
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(gw.child.exitCode, null, 'the gateway is still running')
  const r = await request(`${gw.base}/status/200`)
  await r.body.dump()
  t.equal(r.statusCode, 200, 'and answers (a request with no session needs no Redis)')
})
