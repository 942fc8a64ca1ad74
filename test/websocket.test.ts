import t from 'tap'
import WebSocket from 'ws'
import { startHarness } from './helpers/harness.js'

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
