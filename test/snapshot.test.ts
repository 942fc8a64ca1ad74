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
