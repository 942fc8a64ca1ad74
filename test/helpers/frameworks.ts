import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort } from './redis.js'

/**
 * Real frameworks for the preset tests, started by the tests on free
 * loopback ports, from Debian's packages (the same that .ci/run installs).
 */

// Debian's python3 (python3-django is installed for it), not whatever python3 comes first on PATH.
const PYTHON = '/usr/bin/python3'
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))

export interface RunningApp {
  url: string
  /** Everything the app printed so far (its request log, for counting what reached it). */
  output: () => string
}

/** Waits until the app answers at `url` (any status); fails with its output if it exits or never answers. */
export async function waitForHttp (url: string, child: ChildProcess, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the app exited (${child.exitCode}):\n${log()}`)
    try {
      await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(1_000) })
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  throw new Error(`the app did not answer at ${url}:\n${log()}`)
}

/**
 * Starts an app's server process, collecting what it prints; at teardown it
 * is killed, then `removeAfter` (its data folder) removed.
 */
export function run (t: Test, cmd: string, args: string[], opts: { cwd?: string, env?: NodeJS.ProcessEnv, removeAfter?: string }): { child: ChildProcess, log: () => string, output: () => string } {
  const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr?.on('data', (c: Buffer) => { out += c.toString() })
  t.teardown(async () => {
    if (child.exitCode === null) { child.kill('SIGKILL'); await once(child, 'exit') }
    if (opts.removeAfter !== undefined) rmSync(opts.removeAfter, { recursive: true, force: true })
  })
  return { child, log: () => out.slice(-4000), output: () => out }
}

/**
 * The stock Django admin site (Debian's python3-django) with two staff users,
 * alice/pw-alice and bob/pw-bob, on a fresh SQLite database.
 */
export async function startDjango (t: Test): Promise<RunningApp & { version: string }> {
  const probe = spawnSync(PYTHON, ['-c', 'import django; print(django.get_version())'], { encoding: 'utf8' })
  if (probe.status !== 0) throw new Error('Django is not installed for /usr/bin/python3: the Django preset tests need it. Install it with `sudo apt-get install python3-django` (Debian/Ubuntu); .ci/run does this by itself.')
  const dir = join(FIXTURES, 'django')
  const env = { SCTEST_DB: join(mkdtempSync(join(tmpdir(), 'sessioncap-django-')), 'db.sqlite3'), PYTHONDONTWRITEBYTECODE: '1' }
  const manage = (...args: string[]): void => {
    const r = spawnSync(PYTHON, ['manage.py', ...args], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`manage.py ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`)
  }
  manage('migrate', '--noinput', '-v', '0')
  manage('shell', '-c', "from django.contrib.auth.models import User\nfor n in ('alice', 'bob'): User.objects.create_superuser(n, n + '@example.com', 'pw-' + n)")
  const port = await freePort()
  const { child, log, output } = run(t, PYTHON, ['manage.py', 'runserver', `127.0.0.1:${port}`, '--noreload'], { cwd: dir, env })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/admin/login/`, child, log)
  return { url, output, version: probe.stdout.trim() }
}

/** PHP's built-in server (Debian's php-cli) with the plain login of test/fixtures/php. */
export async function startPhp (t: Test): Promise<RunningApp & { version: string }> {
  const probe = spawnSync('php', ['-r', 'echo PHP_VERSION;'], { encoding: 'utf8' })
  if (probe.status !== 0) throw new Error('php is not installed: the PHP preset tests need it. Install it with `sudo apt-get install php-cli` (Debian/Ubuntu); .ci/run does this by itself.')
  const port = await freePort()
  const sessions = mkdtempSync(join(tmpdir(), 'sessioncap-php-'))
  const { child, log, output } = run(t, 'php', ['-d', `session.save_path=${sessions}`, '-d', 'session.use_strict_mode=1', '-S', `127.0.0.1:${port}`, '-t', join(FIXTURES, 'php')], {})
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/login.php`, child, log)
  return { url, output, version: probe.stdout.trim() }
}
