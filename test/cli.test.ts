import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { cli, CLI } from './helpers/cli.js'
import { freePort } from './helpers/redis.js'

// The CLI as users run it: the compiled bin (`npm test` builds first).


function config (upstream: string, port: number): string {
  return `listen: { host: 127.0.0.1, port: ${port} }
upstream: ${upstream}
session: { cookie: sessionid }
login:
  - { path: /admin/login/, user: { form: username } }
log: { level: info }
`
}

t.test('check: a good file exits 0', async (t) => {
  const dir = t.testdir({ 'ok.yaml': config('http://127.0.0.1:8000', 8080) })
  const r = await cli(['check', '--config', `${dir}/ok.yaml`])
  t.equal(r.code, 0)
  t.match(r.stdout, /ok\.yaml: ok/)
})

t.test('check: a bad file exits 2 with one line per problem: file:line:column: key: expected', async (t) => {
  const dir = t.testdir({
    'bad.yaml': `upstream: http://127.0.0.1:8000
session: { cookie: sessionid }
login:
  - path: /admin/login/
    user: { form: username }
policy: evict-newest
limt: 2
`
  })
  const r = await cli(['check', '--config', `${dir}/bad.yaml`])
  t.equal(r.code, 2)
  const lines = r.stderr.trim().split('\n')
  t.match(lines[0], /bad\.yaml has 2 problems/)
  t.match(lines[1], /bad\.yaml:6:9: policy: expected one of evict-idlest, evict-oldest, reject-new, ask, got "evict-newest"$/)
  t.match(lines[2], /bad\.yaml:7:1: limt: unknown key \(did you mean limit\?\)$/)
})

t.test('a missing file, no file, and an unknown command exit 2', async (t) => {
  t.match(await cli(['check', '--config', '/nonexistent.yaml']), { code: 2, stderr: /cannot read configuration file \/nonexistent\.yaml: ENOENT/ })
  t.match(await cli(['check']), { code: 2, stderr: /no configuration file/ })
  t.match(await cli(['frobnicate', '--config', 'x']), { code: 2, stderr: /unknown command/ })
  t.match(await cli(['--version']), { code: 0, stdout: /^\d+\.\d+\.\d+\n$/ })
})

t.test('run: SESSIONCAP_CONFIG works, the gateway proxies, and SIGTERM stops it with exit 0', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const port = await freePort()
  const dir = t.testdir({ 'gw.yaml': config(app.url, port) })
  const child = spawn(process.execPath, [CLI], { env: { PATH: process.env.PATH, SESSIONCAP_CONFIG: `${dir}/gw.yaml` } })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  await new Promise<void>((resolve) => { child.stdout.on('data', () => { if (out.includes('sessioncap is listening')) resolve() }) })
  const r = await fetch(`http://127.0.0.1:${port}/status/200`)
  t.equal(r.status, 200)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit') as [number]
  t.equal(code, 0)
})

t.test('run: a port already in use is reported at the listen key, exit 2', async (t) => {
  const blocker = createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  const dir = t.testdir({ 'gw.yaml': config('http://127.0.0.1:1', port) })
  const r = await cli(['--config', `${dir}/gw.yaml`])
  t.equal(r.code, 2)
  t.match(r.stderr, new RegExp(`gw\\.yaml:1:34: listen\\.port: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`))
})

t.test('presets: every preset, or one, as the YAML it stands for', async (t) => {
  const all = await cli(['presets'])
  t.equal(all.code, 0)
  for (const name of ['django', 'express-session', 'php', 'rails', 'laravel', 'spring-boot', 'aspnet-core', 'flask']) t.match(all.stdout, new RegExp(`# preset: ${name} `))
  const one = await cli(['presets', 'django'])
  t.match(one.stdout, /proven against the real framework[\s\S]*cookie: sessionid[\s\S]*path: \/admin\/login\//)
  t.match(await cli(['presets', 'nope']), { code: 2, stderr: /no preset "nope"/ })
})
