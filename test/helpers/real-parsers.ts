import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { parseCookie as cookie2 } from 'cookie'
import { parse as cookie06 } from 'cookie-0.6'
import { freePort } from './redis.js'
import { rawRequest } from './raw.js'

/**
 * The real Cookie header parsers that run on this machine, each started once
 * for a whole batch of headers (one header per line in, one JSON line out).
 * Headers are Latin-1 strings (one character per byte), as Node gives them.
 * What each returns is in the terms of the matching reading in
 * src/http/readings: Python's and JavaScript's strings as they are, PHP's and
 * Tomcat's bytes as Latin-1 strings.
 */

const PARSERS = fileURLToPath(new URL('../fixtures/parsers/', import.meta.url))
const PYTHON = '/usr/bin/python3'

export interface Parsed {
  cookies: Array<[string, string | null]>
  /** The exception the parser threw, if it did (it keeps what it had read). */
  error: string | null
}

/** Per header, by reading id (as in COOKIE_READINGS). */
export type RealReadings = Record<string, Parsed>

const hexLines = (headers: readonly string[]): string => headers.map((h) => Buffer.from(h, 'latin1').toString('hex')).join('\n') + '\n'
const unhex = (s: string | null): string | null => s === null ? null : Buffer.from(s, 'hex').toString('latin1')

async function runOnce (cmd: string, args: string[], input: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) resolve(out.split('\n').filter(Boolean))
      else reject(new Error(`${cmd} exited with ${code}: ${err.slice(-2000)}`))
    })
    child.stdin.end(input)
  })
}

/** Django `parse_cookie` and `SimpleCookie`, under WSGI and ASGI; also the code points Python's `str.isspace` is true for. */
export async function pythonReadings (headers: readonly string[]): Promise<{ isspace: number[], readings: RealReadings[] }> {
  const lines = await runOnce(PYTHON, [join(PARSERS, 'cookies.py')], hexLines(headers), { PYTHONDONTWRITEBYTECODE: '1' })
  const [first, ...rest] = lines
  return { isspace: JSON.parse(first as string) as number[], readings: rest.map((l) => JSON.parse(l) as RealReadings) }
}

/** jshttp/cookie 2.x (the pinned devDependency) and 0.6, in this process. */
export function jshttpReadings (headers: readonly string[]): RealReadings[] {
  return headers.map((h) => ({
    'jshttp-cookie': { cookies: Object.entries(cookie2(h)).map(([k, v]) => [k, v ?? null]), error: null },
    'jshttp-cookie-0.6': { cookies: Object.entries(cookie06(h)).map(([k, v]) => [k, v]), error: null }
  }))
}

const JAVA = '/usr/share/java'
const TOMCATS = [
  { version: '9', jars: ['tomcat9-util.jar', 'tomcat9-coyote.jar', 'tomcat9-juli.jar'], ids: { Rfc6265CookieProcessor: 'tomcat-9', LegacyCookieProcessor: 'tomcat-9-legacy' } },
  { version: '10.1', jars: ['tomcat10-util.jar', 'tomcat10-coyote.jar', 'tomcat10-juli.jar'], ids: { Rfc6265CookieProcessor: 'tomcat-10.1' } }
] as const

/** Whether Debian's Tomcat 9 and 10.1 libraries and a JDK are here (libtomcat9-java, libtomcat10-java). */
export function tomcatAvailable (): boolean {
  return spawnSync('javac', ['-version']).status === 0 && TOMCATS.every((tc) => tc.jars.every((j) => existsSync(join(JAVA, j))))
}

/**
 * Tomcat 9 (`Rfc6265CookieProcessor`, its default, and `LegacyCookieProcessor`)
 * and Tomcat 10.1 (`Rfc6265CookieProcessor`): CookieEcho.java compiled here
 * against each version's jars, in a temporary directory.
 */
export async function tomcatReadings (t: Test, headers: readonly string[]): Promise<RealReadings[]> {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-tomcat-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const perVersion = await Promise.all(TOMCATS.map(async (tc) => {
    const classpath = tc.jars.map((j) => join(JAVA, j))
    const out = join(dir, tc.version)
    await runOnce('javac', ['-nowarn', '-cp', classpath.join(':'), '-d', out, join(PARSERS, 'CookieEcho.java')], '')
    // Tomcat's juli logs each invalid cookie at INFO on stderr: only errors matter here.
    const lines = await runOnce('java', ['-Xshare:auto', '-XX:TieredStopAtLevel=1', '-Djava.util.logging.config.file=/dev/null', '-cp', [out, ...classpath].join(':'), 'CookieEcho'], hexLines(headers))
    return lines.map((l) => {
      const parsed = JSON.parse(l) as Record<string, { cookies: Array<[string, string]>, error: string | null }>
      const readings: RealReadings = {}
      for (const [processor, result] of Object.entries(parsed)) {
        const id = (tc.ids as Record<string, string>)[processor] as string
        readings[id] = { cookies: result.cookies.map(([k, v]) => [unhex(k) as string, unhex(v)]), error: result.error }
      }
      return readings
    })
  }))
  return headers.map((_, i) => Object.assign({}, ...perVersion.map((v) => v[i])) as RealReadings)
}

export interface PhpRequest {
  cookie?: string
  query?: string
}

export interface PhpAnswer {
  cookie: Array<[string, string | null]>
  get: Array<[string, string | null]>
}

/**
 * PHP's built-in server (Debian's php-cli) with a script that echoes
 * `$_COOKIE` and `$_GET`; each request sent as raw bytes, a few at a time.
 */
export async function phpReadings (t: Test, requests: readonly PhpRequest[]): Promise<PhpAnswer[]> {
  const port = await freePort()
  // Its own process group: with PHP_CLI_SERVER_WORKERS the server forks
  // workers, which a kill of the parent alone leaves running (and listening).
  const child = spawn('php', ['-S', `127.0.0.1:${port}`, '-t', join(PARSERS, 'php')], { env: { ...process.env, PHP_CLI_SERVER_WORKERS: '2' }, stdio: 'ignore', detached: true })
  t.teardown(() => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {
      child.kill('SIGKILL')
    }
  })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await rawRequest(base, 'GET /echo.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 1_000)
      break
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const answers: PhpAnswer[] = new Array(requests.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < requests.length) {
      const i = next++
      const { cookie, query } = requests[i] as PhpRequest
      const head = `GET /echo.php${query === undefined ? '' : `?${query}`} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n`
      const bytes = Buffer.from(`${head}${cookie === undefined ? '' : `Cookie: ${cookie}\r\n`}\r\n`, 'latin1')
      const r = await rawRequest(base, bytes)
      const parsed = JSON.parse(r.body) as PhpAnswer
      answers[i] = {
        cookie: parsed.cookie.map(([k, v]) => [unhex(k) as string, unhex(v)]),
        get: parsed.get.map(([k, v]) => [unhex(k) as string, unhex(v)])
      }
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  return answers
}
