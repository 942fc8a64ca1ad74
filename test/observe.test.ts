import t from 'tap'
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

/** mode: observe — every decision made and reported, none enforced. */
function auditFile (): string {
  return join(mkdtempSync(join(tmpdir(), 'sessioncap-observe-')), 'audit.jsonl')
}
function lines (file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
}

t.test('over the limit, nothing is ended: what would have been is logged and written down', async (t) => {
  const file = auditFile()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}mode: observe\nlimit: 1\naudit: { file: ${file} }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  h.clock.advance(60_000)
  const phone = h.device('browser')
  const r = await phone.formLogin('alice')
  t.equal(r.status, 302, 'the app\'s own answer')
  t.equal(await laptop.whoami(), 'alice', 'the laptop is not signed out')
  t.equal(await phone.whoami(), 'alice')
  t.match(h.logs.join('\n'), /observe: would end session \(over the limit\)/)
  await h.gateway.audit.close()
  const laptopId = h.gateway.context.hash(laptop.sessionCookie ?? '')
  const would = lines(file).filter((l) => l.type === 'session_ended')
  t.match(would, [{ session: laptopId, reason: 'concurrent_login_limit', by: 'policy', enforced: false, mode: 'observe', user: 'alice' }])
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 2, 'the store tracks what really is: two sessions')
})

t.test('reject-new and ask: the login goes through, the refusal or the question is reported', async (t) => {
  for (const policy of ['reject-new', 'ask']) {
    const file = auditFile()
    const h = await startHarness(t, { yaml: `${APP_ROUTES}mode: observe\npolicy: ${policy}\naudit: { file: ${file} }\n` })
    await h.device('browser').formLogin('alice')
    const second = h.device('browser')
    const r = await second.formLogin('alice')
    t.equal(r.status, 302, `${policy}: the login is the app's answer, not the chooser or a refusal`)
    t.equal(await second.whoami(), 'alice')
    await h.gateway.audit.close()
    const logins = lines(file).filter((l) => l.type === 'login')
    t.match(logins.map((l) => [l.outcome, l.enforced]), [['admitted', true], [policy === 'ask' ? 'pending' : 'rejected', false], ['admitted', true]], `${policy}: reported`)
  }
})

t.test('a logged-out cookie is still taken out: that is the app\'s decision, not the limit\'s', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}mode: observe\n` })
  const d = h.device('browser')
  await d.formLogin('alice')
  const cookie = d.sessionCookie ?? ''
  await d.send('/admin/logout/', { method: 'POST' })
  const echo = await h.device().send('/echo', { headers: { cookie: `sessionid=${cookie}` } })
  t.equal((echo.json() as { headers: { cookie?: string } }).headers.cookie, undefined, 'an app that cannot revoke cookies is covered during the roll-out too')
})

t.test('a session the limit ended before the switch to observe is let through, and reported once', async (t) => {
  const file = auditFile()
  const h = await startHarness(t, { yaml: `${APP_ROUTES}audit: { file: ${file} }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie ?? ''
  await h.device('browser').formLogin('alice')
  h.gateway.reload({ ...h.gateway.context.config, mode: 'observe' })
  for (let i = 0; i < 3; i++) {
    const echo = await h.device().send('/echo', { headers: { cookie: `sessionid=${cookie}` } })
    t.equal((echo.json() as { headers: { cookie?: string } }).headers.cookie, `sessionid=${cookie}`, 'forwarded as it came')
  }
  await h.gateway.audit.close()
  const refused = lines(file).filter((l) => l.type === 'request_refused')
  t.match(refused, [{ reason: 'concurrent_login_limit', enforced: false, mode: 'observe' }], 'written down once, not per request')
  t.equal(refused.length, 1)
})

t.test('an administrator\'s decision is enforced in observe mode too', async (t) => {
  const token = 'observe-admin-token-0123456789ab'
  const h = await startHarness(t, { yaml: `${APP_ROUTES}mode: observe\nadmin: { host: 127.0.0.1, port: 0, token: ${token} }\n` })
  const d = h.device('browser')
  await d.formLogin('alice')
  const res = await fetch(`${h.gateway.adminAddress() ?? ''}/users/alice/sessions`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.status, 200)
  t.equal(await d.whoami(), 401)
})

t.test('switching to enforce (a reload) applies the limit from the next login on', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}mode: observe\n` })
  const devices = [h.device('browser'), h.device('browser')]
  for (const d of devices) { await d.formLogin('alice'); h.clock.advance(60_000) }
  const outcome = h.gateway.reload({ ...h.gateway.context.config, mode: 'enforce' })
  t.same(outcome, { changed: ['mode'], needRestart: [] })
  t.same(await Promise.all(devices.map(async (d) => await d.whoami())), ['alice', 'alice'], 'nobody is signed out by the switch itself')
  const third = h.device('browser')
  await third.formLogin('alice')
  t.same(await Promise.all([...devices, third].map(async (d) => await d.whoami())), [401, 401, 'alice'], 'the next login ends the surplus')
})
