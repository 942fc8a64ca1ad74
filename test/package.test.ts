import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { Device } from './helpers/client.js'
import { cleanEnv, installTarball, pack, run, type Packed } from './helpers/package.js'

/**
 * The package as shipped: `npm pack` of this checkout, installed with its
 * production dependencies only into a prefix of its own, and run from
 * there (its `bin`, nothing of the checkout). A file `files` forgets, or a
 * runtime dependency listed under devDependencies, fails here. The image
 * installs this same tarball (test/deploy-files.test.ts checks that).
 */

const SECRET = randomBytes(32).toString('base64url')
const TOKEN = randomBytes(24).toString('base64url')

const work = mkdtempSync(join(tmpdir(), 'sessioncap-package-'))
t.teardown(() => { rmSync(work, { recursive: true, force: true }) })

/** Packs and installs; undefined only when `npm pack` cannot run here at all (no npm on PATH). */
async function packAndInstall (): Promise<{ packed: Packed, installed: string, bin: string } | undefined> {
  let packed: Packed
  try {
    packed = await pack(work)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  const installed = await installTarball(packed.tarball, join(work, 'prefix'))
  return { packed, installed, bin: join(work, 'prefix', 'node_modules', '.bin', 'sessioncap') }
}

const shipped = await packAndInstall()
if (shipped === undefined) {
  t.test('the package as shipped', { skip: 'npm pack cannot run on this machine (no npm on PATH): the package as shipped is not tested' }, async () => {})
} else {
  tests(shipped)
}

function tests ({ packed, installed, bin }: { packed: Packed, installed: string, bin: string }): void {
  t.test('the tarball holds what a start needs, and no tests or sources', async (t) => {
    const { files } = packed
    for (const f of ['package.json', 'README.md', 'dist/cli.js', 'dist/index.js', 'templates/layout.html', 'templates/style.css', 'config/sessioncap.example.yaml', 'config/docker.yaml', 'config/sessioncap.schema.json']) {
      t.ok(files.includes(f), `ships ${f}`)
    }
    t.notOk(files.some((f) => /^(test|src|bench|scripts|docs|\.ci)\//.test(f)), 'no tests, sources, benchmarks or CI files')
  })

  t.test('sessioncap check passes on every example configuration it ships', async (t) => {
    const examples = readdirSync(join(installed, 'config')).filter((f) => f.endsWith('.yaml'))
    t.ok(examples.length >= 3, examples.join(', '))
    const env = cleanEnv({ SESSIONCAP_SECRET: SECRET, SESSIONCAP_ADMIN_TOKEN: TOKEN })
    // At once: each is a process start, and the machine has cores to spare for them.
    const runs = await Promise.all(examples.map(async (f) => await run(bin, ['check', '--config', join(installed, 'config', f)], { env })))
    runs.forEach((r, i) => { t.equal(r.code, 0, `${examples[i] ?? ''}: ${r.stdout}${r.stderr}`) })
  })

  t.test('the installed gateway: two sign-ins with limit 1, the chooser, the signed-out page, a clean stop', async (t) => {
    const app = await startLegacyApp()
    t.teardown(async () => { await app.close() })
    const file = join(work, 'gateway.yaml')
    writeFileSync(file, [
      'listen: { host: 127.0.0.1, port: 0 }',
      `upstream: ${app.url}`,
      'secret: ${SESSIONCAP_SECRET}',
      'session: { cookie: sessionid }',
      'login:',
      '  - { method: POST, path: /admin/login/, user: { form: username }, status: [302] }',
      'logout:',
      '  - path: /admin/logout/',
      'limit: 1',
      'policy: ask',
      'log: { level: info }'
    ].join('\n') + '\n')
    const child = spawn(bin, ['--config', file], { env: cleanEnv({ SESSIONCAP_SECRET: SECRET }), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { out += c.toString() })
    const exited = once(child, 'exit') as Promise<[number | null]>
    t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
    const base = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', () => {
        const m = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"sessioncap is listening"/.exec(out)
        if (m?.[1] !== undefined) resolve(m[1])
      })
      void exited.then(([code]) => { reject(new Error(`the installed gateway exited (${String(code)}) before listening:\n${out}`)) })
    })

    const laptop = new Device(base, 'browser')
    t.equal((await laptop.formLogin('alice')).status, 302, 'the first sign-in reaches the app')
    const phone = new Device(base, 'browser')
    const second = await phone.formLogin('alice')
    t.equal(second.status, 303, 'the second is over the limit')
    t.match(second.headers.location, /^\/\.sessioncap\/choose/, 'and is asked to choose')

    const chooser = await phone.send('/.sessioncap/choose?next=%2F')
    t.equal(chooser.status, 200, 'the chooser renders (its templates shipped)')
    t.match(chooser.headers['content-type'], /text\/html/)
    const csrf = /name="csrf" value="([^"]+)"/.exec(chooser.text)?.[1] ?? ''
    const other = /name="end" value="([^"]+)"/.exec(chooser.text)?.[1] ?? ''
    t.not(other, '', 'it offers the other session')
    const chosen = await phone.send('/.sessioncap/choose', { form: { csrf, action: 'end', end: other, next: '/' } })
    t.equal(chosen.status, 303)

    const refused = await laptop.send('/')
    t.equal(refused.status, 303, 'the ended laptop is refused')
    const location = String(refused.headers.location)
    t.match(location, /^\/\.sessioncap\/ended/)
    const signedOut = await laptop.send(location)
    t.equal(signedOut.status, 200, 'the signed-out page renders')
    t.match(signedOut.text, /Signed out/i)
    t.equal(await phone.whoami(), 'alice', 'the phone goes on')

    child.kill('SIGTERM')
    const [code] = await exited
    t.equal(code, 0, 'SIGTERM stops it cleanly')
    t.match(out, /"msg":"stopped"/)
  })

  t.test('a copy of the package without templates/: check fails, naming the missing file', async (t) => {
    const broken = join(work, 'prefix', 'node_modules', 'sessioncap-without-templates')
    cpSync(installed, broken, { recursive: true })
    rmSync(join(broken, 'templates'), { recursive: true, force: true })
    const file = join(work, 'minimal.yaml')
    writeFileSync(file, 'upstream: http://127.0.0.1:8000\nsession: { cookie: sessionid }\nlogin: [{ path: /login, user: { form: username } }]\n')
    const r = await run(process.execPath, [join(broken, 'dist', 'cli.js'), 'check', '--config', file])
    t.equal(r.code, 2)
    t.match(r.stderr, /the gateway cannot start/)
    t.match(r.stderr, /sessioncap-without-templates\/templates\/layout\.html: cannot read sessioncap's built-in template \(ENOENT\): the installed package is incomplete/)
    t.equal((await run(bin, ['check', '--config', file])).code, 0, 'the whole package passes the same check')
  })
}
