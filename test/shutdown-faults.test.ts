import t, { type Test } from 'tap'
import { once } from 'node:events'
import { connect } from 'node:net'
import { request } from 'undici'
import { startLegacyApp, type LegacyApp } from './fixtures/legacy-app.mjs'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { startRedis } from './helpers/redis.js'
import { freshPrefix, TEST_SECRET } from './helpers/redis-config.js'

// A graceful stop (SIGTERM) when something around the gateway misbehaves:
// the process still exits 0, and does not wait past what it promises.
// test/lifecycle.test.ts has the stop when all is well. Deadlines only bound
// the waits for something to happen; nothing here measures time.
const DEADLINE_MS = 30_000

async function within<T> (promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`gave up waiting: ${what}`)) }, ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

async function startApp (t: Test): Promise<LegacyApp> {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  return app
}

function yaml (app: LegacyApp, extra: string): string {
  return `upstream: ${app.url}
secret: ${TEST_SECRET}
session: { cookie: sessionid }
login: [{ method: POST, path: /api/login, user: { json: /email } }]
${extra}`
}

async function login (base: string, email: string): Promise<number> {
  const r = await request(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'pw' }) })
  await r.body.dump()
  return r.statusCode
}

t.test('SIGTERM while Redis is away: the stores give up on it, exit 0', async (t) => {
  const app = await startApp(t)
  const redis = await startRedis(t, { persistent: false })
  const gw = await startGatewayProcess(t, yaml(app, `store: { type: redis, url: "${redis.url}", keyPrefix: "${freshPrefix()}", commandTimeout: 200ms }\n`))
  t.equal(await login(gw.base, 'alice@example.test'), 200)
  await redis.kill()
  // A login the guard and the store could not record: their last steps and
  // goodbyes (QUIT) fail within their timeouts instead of holding the stop.
  t.equal(await login(gw.base, 'alice@example.test'), 200, 'fail-open: admitted unrecorded')
  gw.child.kill('SIGTERM')
  t.equal(await within(gw.exited, 'the process exits with Redis away'), 0)
  t.match(gw.output(), /"msg":"stopped"/)
})

t.test('SIGTERM: a WebSocket whose client never answers the close is cut at shutdownTimeout too', async (t) => {
  const app = await startApp(t)
  const gw = await startGatewayProcess(t, yaml(app, 'shutdownTimeout: 500ms\n'))
  // A client that opens a WebSocket, then reads nothing and answers nothing.
  const socket = connect(Number(new URL(gw.base).port), '127.0.0.1')
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  await once(socket, 'connect')
  socket.write('GET /ws HTTP/1.1\r\nHost: app.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n')
  const [head] = await once(socket, 'data') as [Buffer]
  t.match(head.toString('latin1'), /^HTTP\/1\.1 101 /, 'the WebSocket is open')
  const mark = gw.output().length
  gw.child.kill('SIGTERM')
  await gw.waitFor(/"msg":"closing the connections of requests still in flight"/, mark)
  // ws alone would wait 30 s for the closing handshake: a third of that tells the two apart.
  await within(closed, 'the WebSocket is cut with the other connections', 10_000)
  t.equal(await within(gw.exited, 'the process exits'), 0)
})
