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
