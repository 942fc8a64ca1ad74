import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort } from './redis.js'
import { run, waitForHttp } from './frameworks.js'

/**
 * The Laravel test app (test/fixtures/laravel; users alice@example.com and
 * bob@example.com, passwords pw-alice and pw-bob) on Debian's
 * php-laravel-framework and php-cli, served by PHP's built-in server on a
 * free loopback port. Its data — SQLite database, session files, compiled
 * views, Laravel's service manifests — goes to a fresh temp dir: nothing is
 * written into the repository.
 */

const APP = fileURLToPath(new URL('../fixtures/laravel/', import.meta.url))

/** Laravel's "remember me" cookie of the `web` guard, as SessionGuard names it: remember_<guard>_<sha1 of its class>. */
export const REMEMBER_COOKIE = `remember_web_${createHash('sha1').update('Illuminate\\Auth\\SessionGuard').digest('hex')}`

export interface RunningLaravel {
  url: string
  version: string
  /** What the built-in server and Laravel's log (stderr) printed so far. */
  output: () => string
}

const PROBE = 'require "Illuminate/autoload.php"; if (!extension_loaded("pdo_sqlite")) { fwrite(STDERR, "no pdo_sqlite"); exit(1); } echo Illuminate\\Foundation\\Application::VERSION;'

export async function startLaravel (t: Test): Promise<RunningLaravel> {
  const probe = spawnSync('php', ['-r', PROBE], { encoding: 'utf8' })
  if (probe.status !== 0) {
    throw new Error(`Laravel is not installed for php (${probe.stderr.trim() || 'php not found'}): the Laravel preset tests need it. Install it with \`sudo apt-get install php-cli php-laravel-framework php8.2-sqlite3\` (Debian/Ubuntu); .ci/run does this by itself.`)
  }
  const data = mkdtempSync(join(tmpdir(), 'sessioncap-laravel-'))
  for (const dir of ['storage/framework/sessions', 'storage/framework/views', 'storage/framework/cache', 'storage/logs', 'cache']) {
    mkdirSync(join(data, dir), { recursive: true })
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    APP_KEY: `base64:${randomBytes(32).toString('base64')}`,
    LARAVEL_STORAGE_PATH: join(data, 'storage'),
    VIEW_COMPILED_PATH: join(data, 'storage/framework/views'),
    // Laravel writes its provider and package manifests here (bootstrap/cache/ in a project).
    APP_SERVICES_CACHE: join(data, 'cache/services.php'),
    APP_PACKAGES_CACHE: join(data, 'cache/packages.php'),
    DB_DATABASE: join(data, 'database.sqlite'),
    // As Laravel's own phpunit.xml sets it: bcrypt's cost is not what these tests are about.
    BCRYPT_ROUNDS: '4'
  }
  // Laravel's SQLite connection wants the file to exist (`touch database/database.sqlite`, its docs say).
  writeFileSync(join(data, 'database.sqlite'), '')
  const artisan = spawnSync('php', ['artisan', 'migrate', '--seed', '--force'], { cwd: APP, env, encoding: 'utf8' })
  if (artisan.status !== 0) throw new Error(`php artisan migrate --seed failed:\n${artisan.stdout}${artisan.stderr}`)

  const port = await freePort()
  const { child, log, output } = run(t, 'php', ['-S', `127.0.0.1:${port}`, 'public/index.php'], { cwd: APP, env, removeAfter: data })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/login`, child, log)
  return { url, version: probe.stdout.trim(), output }
}
