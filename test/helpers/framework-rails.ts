import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { freePort } from './redis.js'
import { run, waitForHttp } from './frameworks.js'

/**
 * The Rails + Devise app of test/fixtures/rails, started by the tests from
 * Debian's packages (ruby-rails, ruby-devise, ruby-sqlite3, ruby-webrick) on a
 * free loopback port, with a fresh SQLite database in a temporary directory.
 */

// Debian's ruby, for which the ruby-* packages install their gems.
const RUBY = '/usr/bin/ruby'
const APP = fileURLToPath(new URL('../fixtures/rails/', import.meta.url))

export interface RailsApp {
  url: string
  /** How long the app took from spawn to its first answer (ms). */
  bootMs: number
  /** Everything the app printed so far (Rails' request log). */
  output: () => string
}

/** Rails' and Devise's versions ("Rails 6.1.7.10, Devise 4.8.1"), or why they cannot be loaded: for the test's skip. */
export function railsVersion (): { version: string } | { missing: string } {
  const probe = spawnSync(RUBY, ['-e', 'require "rails"; require "devise"; require "devise/version"; require "sqlite3"; require "webrick"; print "Rails #{Rails.version}, Devise #{Devise::VERSION}"'], { encoding: 'utf8' })
  if (probe.status === 0) return { version: probe.stdout }
  return { missing: `Rails and Devise cannot be loaded by ${RUBY}: install ruby-rails, ruby-devise, ruby-sqlite3 and ruby-webrick (Debian/Ubuntu; .ci/run does)\n${probe.stderr}` }
}

/**
 * Users alice, bob, carol, dave, erin, frank, grace and mallory
 * (alice@example.com / pw-alice…). Devise's bcrypt cost is 1 here: the tests
 * sign in dozens of times.
 */
export async function startRails (t: Test): Promise<RailsApp> {
  const port = await freePort()
  const data = mkdtempSync(join(tmpdir(), 'sessioncap-rails-'))
  const env = {
    RAILS_ENV: 'production',
    SECRET_KEY_BASE: randomBytes(64).toString('hex'),
    SCTEST_DB: join(data, 'db.sqlite3'),
    DEVISE_STRETCHES: '1',
    PORT: String(port)
  }
  const started = Date.now()
  const { child, log, output } = run(t, RUBY, ['script/test_server.rb'], { cwd: APP, env, removeAfter: data })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/users/sign_in`, child, log)
  return { url, bootMs: Date.now() - started, output }
}
