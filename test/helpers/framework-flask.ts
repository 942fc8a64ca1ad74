import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import type { Answer, Device } from './client.js'
import { freePort } from './redis.js'
import { run, waitForHttp } from './frameworks.js'

/**
 * The Flask-Login app of test/fixtures/flask, started by the tests on a free
 * loopback port with Debian's python3-flask, python3-flask-login and
 * python3-flaskext.wtf (the same that .ci/run installs).
 */

// Debian's python3 (the packages are installed for it), not whatever python3 comes first on PATH.
const PYTHON = '/usr/bin/python3'
const APP = fileURLToPath(new URL('../fixtures/flask/app.py', import.meta.url))

export interface FlaskApp {
  url: string
  /** "Flask 2.2.2, Flask-Login 0.6.2, Flask-WTF 1.1.1" */
  version: string
  /** Everything the app printed so far (Werkzeug's request log). */
  output: () => string
}

/** Why the Flask tests cannot run here, or undefined when they can. */
export function flaskMissing (): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import flask, flask_login, flask_wtf'], { encoding: 'utf8' })
  return probe.status === 0
    ? undefined
    : `Flask, Flask-Login or Flask-WTF cannot be imported by ${PYTHON}: the Flask preset tests need them. Install them with \`sudo apt-get install python3-flask python3-flask-login python3-flaskext.wtf\` (Debian/Ubuntu); .ci/run does this by itself.`
}

export async function startFlask (t: Test): Promise<FlaskApp> {
  const missing = flaskMissing()
  if (missing !== undefined) throw new Error(missing)
  const versions = spawnSync(PYTHON, ['-c', "from importlib.metadata import version as v; print(f\"Flask {v('flask')}, Flask-Login {v('flask-login')}, Flask-WTF {v('flask-wtf')}\")"], { encoding: 'utf8' })
  const port = await freePort()
  // The app keeps nothing on disk (its session is the signed cookie); it runs in a fresh
  // directory all the same, and writes no bytecode next to the fixture.
  const cwd = mkdtempSync(join(tmpdir(), 'sessioncap-flask-'))
  const env = { SECRET_KEY: randomBytes(24).toString('hex'), PORT: String(port), PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' }
  const { child, log, output } = run(t, PYTHON, [APP], { cwd, env, removeAfter: cwd })
  const url = `http://127.0.0.1:${port}`
  await waitForHttp(`${url}/api/me`, child, log)
  return { url, version: versions.stdout.trim(), output }
}

export interface LoginOptions {
  remember?: boolean
  /** The `?next=` of the form's URL, as Flask-Login's redirect to the login page writes it. */
  next?: string
}

/** Signs in as a browser does: the form page first (its CSRF token, and the session holding it), then the form. */
export async function flaskLogin (d: Device, user: string, password: string, opts: LoginOptions = {}): Promise<Answer> {
  const page = await d.send('/login')
  const token = /name="csrf_token" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  const form: Record<string, string> = { csrf_token: token, username: user, password }
  if (opts.remember === true) form.remember = 'y'
  const query = opts.next === undefined ? '' : `?next=${encodeURIComponent(opts.next)}`
  return await d.send(`/login${query}`, { form })
}

/** Who Flask says the device is, asked through the gateway: the user, or the status. */
export async function flaskMe (d: Device): Promise<string | number> {
  const r = await d.send('/api/me', { headers: { accept: 'application/json' } })
  return r.status === 200 ? (r.json() as { user: string }).user : r.status
}
