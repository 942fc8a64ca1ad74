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

t.test('check --print: the configuration as it takes effect (preset, ${ENV}, defaults), secrets masked', async (t) => {
  const dir = t.testdir({
    'p.yaml': `upstream: http://127.0.0.1:8000
preset: django
secret: \${SECRET}
limit: 1
store: { type: redis, url: "redis://gw:hunter2-redis@127.0.0.1:6379/0" }
admin: { token: "an-admin-token-0123456789" }
ended: { upstreamLogout: { path: /admin/logout/, headers: { X-CSRFToken: "{cookie:csrftoken}", Authorization: "Bearer s3cr3t-bearer" } } }
`
  })
  const secret = 'a-secret-from-the-environment-0123456789abcdef'
  const r = await cli(['check', '--print', '--config', `${dir}/p.yaml`], { SECRET: secret })
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^session:\n {2}cookie: sessionid$/m, 'the preset\'s values')
  t.match(r.stdout, /^ +path: \/admin\/login\/$/m, 'the preset\'s login route')
  t.match(r.stdout, /^ {2}maxAge: 14d$/m, 'defaults, durations as written')
  t.match(r.stdout, /^policy: evict-idlest$/m)
  for (const hidden of [secret, 'hunter2-redis', 'an-admin-token-0123456789', 's3cr3t-bearer']) t.notOk(r.stdout.includes(hidden), `masked: ${hidden.slice(0, 6)}…`)
  t.match(r.stdout, /^secret: "?\*{8}"?$/m)
  t.match(r.stdout, /redis:\/\/gw:\*{8}@127\.0\.0\.1:6379\/0/, 'a URL keeps all but its password')
  t.match(r.stdout, /X-CSRFToken: "?\{cookie:csrftoken\}"?/, 'the gateway\'s own cookie templates are no secret')
  const bad = await cli(['presets', '--print'])
  t.equal(bad.code, 2, 'only check takes --print')
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
  t.match(await cli(['check', '--config', '/nonexistent.yaml']), { code: 2, stderr: /cannot read configuration file \/nonexistent\.yaml: there is no such file/ })
  t.match(await cli(['check']), { code: 2, stderr: /no configuration file/ })
  t.match(await cli(['frobnicate', '--config', 'x']), { code: 2, stderr: /unknown command/ })
  t.match(await cli(['--version']), { code: 0, stdout: /^\d+\.\d+\.\d+\n$/ })
})

t.test('every command has its own --help with an example; an unknown option is one line and the command\'s usage', async (t) => {
  for (const command of ['run', 'check', 'presets', 'schema', 'sessions list', 'sessions end', 'sessions over-limit', 'sweep', 'blocks list', 'blocks unblock']) {
    const r = await cli([...command.split(' '), '--help'])
    t.equal(r.code, 0, command)
    t.match(r.stdout, new RegExp(`^usage: sessioncap ${command === 'run' ? '\\[run\\]' : command}[ \\n]`), `${command}: its usage first`)
    t.match(r.stdout, /\nexample:\n {2}sessioncap /, `${command}: an example`)
  }
  const wrong = await cli(['check', '--frob', '--config', 'x.yaml'])
  t.equal(wrong.code, 2)
  t.equal(wrong.stderr, "sessioncap: Unknown option '--frob'\nusage: sessioncap check --config FILE [--print] [--probe]\n(sessioncap check --help says more)\n")
  const misplaced = await cli(['sweep', '--keep', '2'])
  t.equal(misplaced.stderr.split('\n').length, 4, 'three lines, not the whole usage')
  t.match(misplaced.stderr, /^sessioncap: sweep does not take --keep\nusage: sessioncap sweep \[--max N\] \[--dry-run\]\n/)
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

t.test('a preset that needs a whoami says so, and check warns until the file has one (with login: auto)', async (t) => {
  const laravel = await cli(['presets', 'laravel'])
  t.match(laravel.stdout, /# needs a whoami and login: auto to be safe: a failed login redirects back/)
  t.notMatch((await cli(['presets', 'django'])).stdout, /needs a whoami/, 'not every preset')
  const dir = t.testdir({
    'bare.yaml': 'upstream: http://127.0.0.1:8000\npreset: laravel\nlimit: 1\n',
    'half.yaml': 'upstream: http://127.0.0.1:8000\npreset: laravel\nlimit: 1\nwhoami: { path: /api/me, json: /user }\n',
    'safe.yaml': 'upstream: http://127.0.0.1:8000\npreset: laravel\nlimit: 1\nlogin: auto\nwhoami: { path: /api/me, json: /user }\n'
  })
  const bare = await cli(['check', '--config', `${dir}/bare.yaml`])
  t.equal(bare.code, 0, 'a warning, not an error')
  t.match(bare.stderr, /warning: preset: laravel needs a whoami and login: auto to be safe/)
  t.match((await cli(['check', '--config', `${dir}/half.yaml`])).stderr, /warning: preset: laravel: with a whoami, also set login: auto/)
  t.equal((await cli(['check', '--config', `${dir}/safe.yaml`])).stderr, '', 'with both: no warning')
})
