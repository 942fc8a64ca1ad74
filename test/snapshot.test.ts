import t from 'tap'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { TEST_SECRET } from './helpers/redis-config.js'

t.test('memory store snapshot: a restarted gateway forgets nothing, ended sessions included', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'sessions.snapshot')
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const yaml = `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: memory, snapshot: "${file}" }\n`

  const first = await startHarness(t, { yaml, app })
  const laptop = first.device()
  await laptop.formLogin('alice')
  const endedCookie = laptop.sessionCookie as string
  first.clock.advance(60_000)
  const phone = first.device()
  await phone.formLogin('alice')
  await phone.send('/rotate', { method: 'POST' })
  const bob = first.device()
  await bob.formLogin('bob')
  await first.gateway.close()
  t.ok(statSync(file).size > 0, 'written on shutdown')
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only')
  t.notOk(readFileSync(file, 'utf8').includes(endedCookie), 'holds no cookie')

  const second = await startHarness(t, { yaml, app })
  second.clock.t = first.clock.t
  const laptop2 = second.device()
  laptop2.jar.set('sessionid', endedCookie)
  t.equal(await laptop2.whoami(), 401, 'the ended session is still refused')
  const phone2 = second.device()
  phone2.jar.set('sessionid', phone.sessionCookie as string)
  t.equal(await phone2.whoami(), 'alice', 'the live (rotated) session still works')
  t.equal((await second.gateway.store.sessionsOf('alice', second.clock.now())).length, 1, 'and is still counted')
  await second.device().formLogin('alice')
  t.equal(await phone2.whoami(), 401, 'so the limit applies to it')
  t.equal((await second.gateway.store.sessionsOf('bob', second.clock.now())).length, 1)
})

t.test('a damaged snapshot is reported, and the gateway starts with what could be read', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'sessions.snapshot')
  writeFileSync(file, '{"format":"sessioncap-memory-snapshot","version":1,"at":0}\n["l","k1","alice",1767225600000,1767225600000,[]]\nnot json\n')
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: memory, snapshot: "${file}" }\n` })
  t.ok(h.logs.some((l) => /snapshot is damaged/.test(l)))
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'the record before the damage was kept')
  t.equal((await h.device().send('/status/200')).status, 200)
})

t.test('a snapshot needs a secret', async (t) => {
  const { loadConfigText } = await import('../src/config/load.js')
  t.throws(() => loadConfigText(`upstream: http://127.0.0.1:1\n${APP_ROUTES}store: { snapshot: /tmp/x }\n`, 'x.yaml', {}), /a snapshot needs `secret`/)
})

t.test('a snapshot of a later format version is refused: the gateway does not start, and the file is left as it was', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'sessions.snapshot')
  const text = '{"format":"sessioncap-memory-snapshot","version":99,"at":0}\n["s","k1",{"user":"alice","createdAt":1767225600000,"lastUsedAt":1767225600000}]\n'
  writeFileSync(file, text)
  await t.rejects(startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: memory, snapshot: "${file}" }\n` }),
    /written by a later sessioncap \(format version 99; this one reads 1 and 2\)/)
  t.equal(readFileSync(file, 'utf8'), text, 'not overwritten with an empty store')
})

t.test('a version 1 snapshot (ended sessions by id) is read by this version and written back as version 2', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'sessions.snapshot')
  const T = Date.UTC(2026, 0, 1)
  const { createSessionHasher } = await import('../src/http/session-hash.js')
  const ended = createSessionHasher(TEST_SECRET)('an-old-cookie')
  writeFileSync(file, `{"format":"sessioncap-memory-snapshot","version":1,"at":0}\n["l","k1","alice",${T},${T},[]]\n["e","${ended}",${(T - 60_000) * 8 + 1}]\n`)
  const h = await startHarness(t, { yaml: `${APP_ROUTES}secret: ${TEST_SECRET}\nstore: { type: memory, snapshot: "${file}" }\n` })
  t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now())).length, 1, 'the live session was kept')
  const d = h.device()
  d.jar.set('sessionid', 'an-old-cookie')
  const r = await d.send('/echo')
  t.equal(r.status, 200, 'logged out: taken out of the request, which goes on')
  t.notMatch((r.json() as { headers: { cookie?: string } }).headers.cookie ?? '', /an-old-cookie/, 'the ended session never reached the app')
  await h.gateway.close()
  t.match(readFileSync(file, 'utf8'), /^\{"format":"sessioncap-memory-snapshot","version":2,/)
})
