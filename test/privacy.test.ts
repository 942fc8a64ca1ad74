import t from 'tap'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { createSessionHasher } from '../src/http/session-hash.js'

t.test('no raw session cookie ever reaches a log line or the store', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}log: { level: trace, requests: true, access: true }\nlimit: 1\n` })
  const issued = new Set<string>()
  const note = (v: string | undefined): void => { if (v !== undefined) issued.add(v) }

  const laptop = h.device()
  await laptop.formLogin('alice'); note(laptop.sessionCookie)
  await laptop.send('/rotate', { method: 'POST' }); note(laptop.sessionCookie)
  const phone = h.device()
  await phone.formLogin('alice'); note(phone.sessionCookie)
  await laptop.send('/api/me')
  await laptop.send('/api/me', { headers: { cookie: `sessionid=${[...issued][0] ?? ''}`, authorization: 'Bearer top-secret-token' } })
  await phone.send('/admin/logout/', { method: 'POST' })
  await h.device().formLogin('alice', 'wrong')

  t.ok(issued.size >= 3)
  t.ok(h.logs.length > 10, `${h.logs.length} log lines written`)
  for (const cookie of issued) {
    t.notOk(h.logs.some((line) => line.includes(cookie)), `cookie ${cookie.slice(0, 6)}… appears in no log line`)
  }
  t.notOk(h.logs.some((line) => line.includes('top-secret-token')), 'nor does an Authorization header')
  const stored = await h.gateway.store.sessionsOf('alice', h.clock.now())
  for (const s of stored) t.notOk(issued.has(s.id), 'the store keeps hashes')
})

t.test('session ids are keyed hashes: the same cookie hashes differently under another secret', async (t) => {
  const a = createSessionHasher('a'.repeat(32))
  const b = createSessionHasher('b'.repeat(32))
  t.equal(a('cookie-value'), a('cookie-value'), 'stable under one secret')
  t.not(a('cookie-value'), b('cookie-value'))
  t.match(a('cookie-value'), /^[A-Za-z0-9_-]{22}$/)
})

t.test('by default there is no per-request log line, only session events', async (t) => {
  const h = await startHarness(t)
  const d = h.device()
  await d.formLogin('alice')
  for (let i = 0; i < 5; i++) await d.send('/echo')
  t.notOk(h.logs.some((l) => /incoming request|request completed|fetching from remote server|response received/.test(l)))
  t.ok(h.logs.some((l) => /login admitted/.test(l)))
})

t.test('the gateway\'s logger redacts cookie and authorization headers wherever a line would carry them', async (t) => {
  const h = await startHarness(t)
  const log = h.gateway.app.log
  log.warn({ req: { headers: { cookie: 'sessionid=SECRET-1', authorization: 'Bearer SECRET-2' } } }, 'a line with a request')
  log.warn({ headers: { cookie: 'sessionid=SECRET-3', 'set-cookie': ['sessionid=SECRET-4'] } }, 'a line with headers')
  log.warn({ res: { headers: { 'set-cookie': ['sessionid=SECRET-5'] } } }, 'a line with a response')
  const lines = h.logs.filter((l) => /a line with/.test(l))
  t.equal(lines.length, 3)
  t.notOk(lines.some((l) => /SECRET-/.test(l)), 'no secret value survives (req/res serializers drop headers, redaction masks the rest)')
  t.match(lines[1], /"headers":\{"cookie":"\[redacted\]","set-cookie":"\[redacted\]"\}/)
})

t.test('log.access: one line per request once answered, with the user when known and never a cookie', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}log: { access: true }\nlimit: 1\n` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  await laptop.send('/api/me?sessionid=abc123')
  await h.device().send('/status/404')
  const access = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'access')
  t.equal(access.length, 3, 'one line per request')
  t.match(access[0], { level: 'info', method: 'POST', path: '/admin/login/', status: 302, user: 'alice' }, 'the login it made')
  t.match(access[1], { method: 'GET', path: '/api/me?sessionid=[redacted]', status: 200, user: 'alice' }, 'the session it carried; a session id in the URL masked')
  t.equal(typeof access[1]?.ms, 'number')
  t.match(access[2], { path: '/status/404', status: 404 })
  t.notOk('user' in (access[2] ?? {}), 'no user where none is known')
  t.notOk(h.logs.some((l) => l.includes(laptop.sessionCookie as string)), 'never the cookie')
})
