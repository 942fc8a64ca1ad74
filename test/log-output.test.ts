import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { freePort } from './helpers/redis.js'

// The gateway's log goes to stdout (proxy/log.ts stdoutLog). When stdout
// cannot be written, the gateway must go on serving and still stop on
// SIGTERM. /dev/full answers every write with ENOSPC, as a full disk does.
// Deadlines only bound the waits; nothing here measures time.
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const HOOKS = new URL('./helpers/ts-hooks.mjs', import.meta.url).href
const DEADLINE_MS = 30_000

async function until (what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Started {
  port: number
  child: ChildProcess
  stderr: () => string
  exited: Promise<number | null>
}

/** The stand-in app and the CLI in front of it on a free port, its stdout as given; both stopped at teardown. */
async function startWithStdout (t: Test, log: string, stdout: number | 'pipe'): Promise<Started> {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const port = await freePort()
  const dir = t.testdir({
    'gateway.yaml': `upstream: ${app.url}
listen: { host: 127.0.0.1, port: ${port} }
log: ${log}
session: { cookie: sessionid }
login: [{ method: POST, path: /api/login, user: { json: /email } }]
`
  })
  const child = spawn(process.execPath, [`--import=${HOOKS}`, CLI, '--config', join(dir, 'gateway.yaml')], { stdio: ['ignore', stdout, 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited }
  })
  return { port, child, stderr: () => stderr, exited }
}

t.test('stdout on a full disk: the gateway serves, says so once on stderr, and stops on SIGTERM', { skip: existsSync('/dev/full') ? false : 'no /dev/full here' }, async (t) => {
  const full = openSync('/dev/full', 'w')
  const { port, child, stderr, exited } = await startWithStdout(t, '{ level: info }', full)
  closeSync(full)

  // The start-up lines are written within a second; their failure is reported.
  await until('stderr reports the failed log', () => /cannot write log lines to stdout \(ENOSPC\)/.test(stderr()) || child.exitCode !== null)
  t.equal(child.exitCode, null, 'the gateway is still running')
  const answer = async (): Promise<number> => await request(`http://127.0.0.1:${port}/status/200`)
    .then(async (r) => { await r.body.dump(); return r.statusCode }, () => 0)
  await until('the gateway answers', async () => (await answer()) === 200)
  // Lines logged since (a login each) fail again: reported once, not per line or per second.
  for (const email of ['a@example.test', 'b@example.test']) {
    const r = await request(`http://127.0.0.1:${port}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password: 'pw' }) })
    await r.body.dump()
  }
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  t.equal(stderr().match(/cannot write log lines/g)?.length, 1, 'said once')

  child.kill('SIGTERM')
  const late = new Promise<string>((resolve) => { setTimeout(() => { resolve('still running') }, DEADLINE_MS).unref() })
  t.equal(await Promise.race([exited, late]), 0, 'SIGTERM stops it, exit 0')
})

t.test('a log reader that stops reading: the gateway serves, and SIGTERM still stops it', async (t) => {
  const { port, child, stderr, exited } = await startWithStdout(t, '{ level: info, requests: true }', 'pipe')
  // Never read: once the pipe holds 64 KiB, every write to it fails with EAGAIN.
  child.stdout?.pause()
  const answer = async (): Promise<number> => await request(`http://127.0.0.1:${port}/status/200`)
    .then(async (r) => { await r.body.dump(); return r.statusCode }, () => 0)
  await until('the gateway answers', async () => (await answer()) === 200)
  // Two request lines each (log.requests): far more than the pipe holds.
  let answered = 0
  for (let i = 0; i < 1000; i++) if (await answer() === 200) answered++
  t.equal(answered, 1000, 'every request answered while the log waits')
  await until('stderr reports the stalled log', () => /cannot write log lines to stdout \(EAGAIN\)/.test(stderr()))
  // Before sonic-boom 5 the last flush retried the full pipe for ever: SIGTERM never ended the process.
  child.kill('SIGTERM')
  const late = new Promise<string>((resolve) => { setTimeout(() => { resolve('still running') }, DEADLINE_MS).unref() })
  t.equal(await Promise.race([exited, late]), 0, 'SIGTERM stops it, exit 0')
})
