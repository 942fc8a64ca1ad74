import t from 'tap'
import { chmodSync, writeFileSync } from 'node:fs'
import { cli } from './helpers/cli.js'
import { templateProblems } from '../src/pages/templates.js'

// `sessioncap check` says ok only when a start would get past the files it
// needs; `run` checks the same before listening. (A package missing its
// built-in templates is tested on the packed package: test/package.test.ts.)

const BASE = `upstream: http://127.0.0.1:8000
session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username } }
secret: a-made-up-secret-for-these-tests-only-4f1c9a
`

t.test('the snapshot\'s folder must exist: check and run both refuse, naming the key and the folder', async (t) => {
  const dir = t.testdir({ 'gw.yaml': `${BASE}store: { snapshot: /nonexistent-sessioncap/sessions }\n` })
  const check = await cli(['check', '--config', `${dir}/gw.yaml`])
  t.equal(check.code, 2)
  t.match(check.stderr, /^sessioncap: .*gw\.yaml: the gateway cannot start: 1 problem:\n.*gw\.yaml:6:\d+: store\.snapshot: no such folder: \/nonexistent-sessioncap \(the snapshot could never be saved\)/)
  const run = await cli(['--config', `${dir}/gw.yaml`])
  t.equal(run.code, 2)
  t.match(run.stderr, /store\.snapshot: no such folder/)
})

t.test('a snapshot written by a later version stops the start, and check says so', async (t) => {
  const dir = t.testdir({ sessions: `${JSON.stringify({ format: 'sessioncap-memory-snapshot', version: 99, at: 0 })}\n` })
  writeFileSync(`${dir}/gw.yaml`, `${BASE}store: { snapshot: ${dir}/sessions }\n`)
  const r = await cli(['check', '--config', `${dir}/gw.yaml`])
  t.equal(r.code, 2)
  t.match(r.stderr, /store\.snapshot: the snapshot .*sessions was written by a later sessioncap \(format version 99/)
})

t.test('a snapshot of this version, none yet, or a damaged one (the gateway keeps what it can read) are fine', async (t) => {
  const dir = t.testdir({ current: `${JSON.stringify({ format: 'sessioncap-memory-snapshot', version: 2, at: 0 })}\n`, damaged: '{not json\n' })
  for (const name of ['current', 'none', 'damaged']) {
    writeFileSync(`${dir}/gw.yaml`, `${BASE}store: { snapshot: ${dir}/${name} }\n`)
    t.match(await cli(['check', '--config', `${dir}/gw.yaml`]), { code: 0, stdout: /gw\.yaml: ok/ }, name)
  }
})

t.test('the audit file\'s folder must exist; stdout (-) needs none', async (t) => {
  const dir = t.testdir({ 'gw.yaml': `${BASE}audit: { file: /nonexistent-sessioncap/audit.log }\n`, 'stdout.yaml': `${BASE}audit: { file: "-" }\n` })
  const r = await cli(['check', '--config', `${dir}/gw.yaml`])
  t.equal(r.code, 2)
  t.match(r.stderr, /audit\.file: no such folder: \/nonexistent-sessioncap \(the audit trail would lose every event\)/)
  t.match(await cli(['check', '--config', `${dir}/stdout.yaml`]), { code: 0 })
  const existing = t.testdir({ 'audit.log': '' })
  writeFileSync(`${existing}/gw.yaml`, `${BASE}audit: { file: ${existing}/audit.log }\n`)
  t.match(await cli(['check', '--config', `${existing}/gw.yaml`]), { code: 0 }, 'a file already there, writable, is appended to')
})

t.test('a folder this user cannot write to is refused', { skip: process.getuid?.() === 0 ? 'root may write anywhere: run the suite as another user to test this' : false }, async (t) => {
  const dir = t.testdir({ locked: {} })
  chmodSync(`${dir}/locked`, 0o555)
  t.teardown(() => { chmodSync(`${dir}/locked`, 0o755) })
  writeFileSync(`${dir}/gw.yaml`, `${BASE}store: { snapshot: ${dir}/locked/sessions }\n`)
  const r = await cli(['check', '--config', `${dir}/gw.yaml`])
  t.equal(r.code, 2)
  t.match(r.stderr, /store\.snapshot: the folder .*locked is not writable by this user/)
})

t.test('templates: the operator\'s are used where the folder has them, the built-in ones elsewhere, and each is named when it cannot be used', async (t) => {
  const dir = t.testdir({ own: { 'layout.html': {}, 'ended.html': '{{#open}} never closed' } })
  const problems = templateProblems(`${dir}/own`)
  t.match(problems, [
    { builtIn: false, file: /own\/layout\.html$/, message: /cannot read the template \(EISDIR\)/ },
    { builtIn: false, file: /own\/ended\.html$/, message: /not a Mustache template: Unclosed section "open"/ }
  ])
  t.same(templateProblems(undefined), [], 'the built-in templates of this checkout are whole')
})

t.test('secret and admin.token: an example value is refused, a made-up one is not', async (t) => {
  const dir = t.testdir({
    'placeholder.yaml': BASE.replace(/secret: .*/, 'secret: ${SESSIONCAP_SECRET}') + 'admin: { token: "${SESSIONCAP_ADMIN_TOKEN}" }\n'
  })
  const r = await cli(['check', '--config', `${dir}/placeholder.yaml`], { SESSIONCAP_SECRET: 'change-me-to-a-long-random-string-0123456789', SESSIONCAP_ADMIN_TOKEN: 'replace-me-with-a-long-token' })
  t.equal(r.code, 2)
  t.match(r.stderr, /placeholder\.yaml:5:9: secret: is an example value, not a secret/)
  t.match(r.stderr, /admin\.token: is an example value/)
  const ok = await cli(['check', '--config', `${dir}/placeholder.yaml`], { SESSIONCAP_SECRET: 'Zq3Jx9c0TqW2m5nV8bR1yL4kH7dF6sA0eU3iO9pC', SESSIONCAP_ADMIN_TOKEN: 'b7Yt2kLm9Qw4Xz1Nc8Vr' })
  t.equal(ok.code, 0, ok.stderr)
})
