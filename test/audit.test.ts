import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { WebhookQueue } from '../src/ops/webhook.js'

/** The audit trail: JSON lines to a file, and a webhook that must never slow a request. */
type Line = Record<string, unknown>
function lines (file: string): Line[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)
}
async function until (cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'

t.test('every login, ending and refused session is one JSON line with who, which session, from where, and why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-audit-'))
  const file = join(dir, 'audit.jsonl')
  const token = 'audit-admin-token-0123456789abcd'
  const h = await startHarness(t, { yaml: `${APP_ROUTES}audit: { file: ${file} }\nadmin: { host: 127.0.0.1, port: 0, token: ${token} }\n` })
  const laptop = h.device('browser')
  await laptop.send('/admin/login/', { form: { username: 'alice', password: 'secret' }, headers: { 'user-agent': FIREFOX } })
  const laptopCookie = laptop.sessionCookie ?? ''
  const phone = h.device('browser')
  await phone.formLogin('alice')
  for (let i = 0; i < 3; i++) {
    laptop.jar.set('sessionid', laptopCookie)
    t.equal(await laptop.whoami(), 401)
  }
  await fetch(`${h.gateway.adminAddress() ?? ''}/users/alice/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
  await h.gateway.audit.close()

  const laptopId = h.gateway.context.hash(laptopCookie)
  const phoneId = h.gateway.context.hash(phone.sessionCookie ?? '')
  const all = lines(file)
  t.match(all, [
    { type: 'login', outcome: 'admitted', user: 'alice', session: laptopId, client: { ip: '127.0.0.1', userAgent: FIREFOX }, enforced: true, mode: 'enforce', time: '2026-01-01T00:00:00.000Z', via: 'form field "username"' },
    { type: 'login', outcome: 'admitted', user: 'alice', session: phoneId },
    { type: 'session_ended', user: 'alice', session: laptopId, reason: 'concurrent_login_limit', by: 'policy', trigger: phoneId },
    { type: 'request_refused', session: laptopId, user: 'alice', reason: 'concurrent_login_limit', method: 'GET' },
    { type: 'session_ended', user: 'alice', session: phoneId, reason: 'ended_by_admin', by: 'admin', client: { ip: '127.0.0.1' } }
  ])
  t.equal(all.length, 5, 'a session refused three times is written down once')
  const text = readFileSync(file, 'utf8')
  t.notOk(text.includes(laptopCookie) || text.includes(phone.sessionCookie ?? 'x'), 'no raw cookie in the trail')
})

t.test('after log rotation, reopen writes to a new file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-audit-'))
  const file = join(dir, 'audit.jsonl')
  const h = await startHarness(t, { yaml: `${APP_ROUTES}audit: { file: ${file} }\n` })
  await h.device('browser').formLogin('alice')
  await until(() => { try { return lines(file).length === 1 } catch { return false } }, 'the first line')
  renameSync(file, `${file}.1`)
  h.gateway.audit.reopen()
  await h.device('browser').formLogin('bob')
  await h.gateway.audit.close()
  t.match(lines(file), [{ user: 'bob' }])
  t.match(lines(`${file}.1`), [{ user: 'alice' }])
})

t.test('the webhook gets every event, retried with back-off, and never holds up a request', async (t) => {
  const received: Line[] = []
  let attempts = 0
  let hold: ServerResponse | undefined
  const hook = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      attempts++
      if (attempts === 1) { hold = res; return } // the first delivery hangs: the webhook is slow
      if (attempts <= 3) { res.writeHead(500).end(); return } // then it fails twice
      if (req.headers.authorization !== 'Bearer hook-secret') { res.writeHead(401).end(); return }
      received.push(...(JSON.parse(body) as Line[]))
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => { hook.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { hold?.destroy(); hook.close() })
  const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/events`
  const h = await startHarness(t, { yaml: `${APP_ROUTES}audit: { webhook: "${url}", webhookHeaders: { Authorization: Bearer hook-secret }, webhookTimeout: 1s }\n` })

  const first = await h.device('browser').formLogin('alice')
  t.equal(first.status, 302, 'the login was answered')
  await until(() => attempts >= 1, 'the first delivery')
  const second = await h.device('browser').formLogin('bob')
  t.equal(second.status, 302, 'the next login was answered while the webhook still held the first delivery')
  t.ok(hold !== undefined && received.length === 0, 'nothing delivered yet')

  await until(() => received.length === 2, 'both logins delivered')
  t.match(received, [{ type: 'login', user: 'alice' }, { type: 'login', user: 'bob' }], 'in order, after the timeout and two failures')
  t.ok(attempts >= 4)
  t.match(h.logs.join('\n'), /audit webhook: delivery failed; retrying with back-off/)
  // Logged once the webhook's answer is read, which may come a moment after it recorded the events.
  await until(() => h.logs.some((l) => l.includes('audit webhook: delivering again')), 'the recovery logged')
  t.equal(h.logs.filter((l) => l.includes('delivery failed')).length, 1, 'the outage is logged once, not per attempt')
})

t.test('at shutdown the webhook gets what is queued: the delivery in flight is waited for, then batch after batch', async (t) => {
  const received: unknown[] = []
  let first = true
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push(...(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[]))
      // The first delivery is slow: it is still in flight when the queue closes.
      setTimeout(() => { res.writeHead(204).end() }, first ? 300 : 0)
      first = false
    })
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { server.close() })
  const silent = { info: () => {}, warn: () => {} }
  const queue = new WebhookQueue({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, headers: {}, timeout: 5_000, max: 10_000 }, silent)
  for (let i = 0; i < 250; i++) queue.push({ n: i })
  await new Promise((resolve) => setTimeout(resolve, 50))
  await queue.close()
  t.same(received, Array.from({ length: 250 }, (_, n) => ({ n })), 'all 250 events delivered, in order')
  t.equal(queue.size, 0)
})
