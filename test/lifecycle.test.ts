import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { startLegacyApp, type LegacyApp } from './fixtures/legacy-app.mjs'
import { Device } from './helpers/client.js'

// The gateway's life as a process: reload on SIGHUP and on file changes,
// graceful stop on SIGTERM. The compiled CLI (npm test builds first), real
// signals, real sockets. Nothing here measures time: deadlines only bound
// the waits for something to happen.
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
const DEADLINE_MS = 30_000
const SECRET = 'lifecycle-test-secret-0123456789abcdef'

interface Gw {
  child: ChildProcess
  base: string
  port: number
  /** stdout and stderr so far (JSON log lines and the CLI's own messages). */
  output: () => string
  /** Waits until the output after `from` (an earlier output().length) matches. */
  waitFor: (pattern: RegExp, from?: number) => Promise<void>
  exited: Promise<number | null>
}

function configText (app: LegacyApp, extra: string): string {
  return `upstream: ${app.url}
listen: { host: 127.0.0.1, port: 0 }
log: { level: info }
secret: ${SECRET}
session: { cookie: sessionid }
login:
  - { method: POST, path: /api/login, user: { json: /email } }
policy: evict-oldest
${extra}`
}

async function startApp (t: Test): Promise<LegacyApp> {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  return app
}

async function startGateway (t: Test, file: string): Promise<Gw> {
  const child = spawn(process.execPath, [CLI, '--config', file], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (c: Buffer): void => { out += c.toString(); for (const w of waiters) w() }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code); for (const w of waiters) w() }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await exited
    }
  })
  const waitFor = async (pattern: RegExp, from = 0): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (pattern.test(out.slice(from))) { done(); resolve() } else if (child.exitCode !== null) { done(); reject(new Error(`exited (${child.exitCode}) before ${String(pattern)}:\n${out}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`no ${String(pattern)} within ${DEADLINE_MS} ms:\n${out}`)) }, DEADLINE_MS)
      const done = (): void => { clearTimeout(timer); waiters.delete(check) }
      waiters.add(check)
      check()
    })
  }
  await waitFor(/"msg":"sessioncap is listening"/)
  const base = /"address":"(http:\/\/[^"]+)"/.exec(out)?.[1] as string
  return { child, base, port: Number(new URL(base).port), output: () => out, waitFor, exited }
}

async function login (base: string, user = 'alice'): Promise<Device> {
  const d = new Device(base)
  const r = await d.apiLogin(user)
  if (r.status !== 200) throw new Error(`login answered ${r.status}: ${r.text}`)
  return d
}

/** The same browser, talking to another gateway (a restarted one on a new port). */
function moved (d: Device, base: string): Device {
  const m = new Device(base)
  for (const [k, v] of d.jar) m.jar.set(k, v)
  return m
}

async function refusesConnections (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(false) })
    s.once('error', (err: NodeJS.ErrnoException) => { resolve(err.code === 'ECONNREFUSED') })
  })
}

/** `promise`, or a failure naming what did not happen within the (generous) deadline. */
async function within<T> (promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`gave up waiting: ${what}`)) }, DEADLINE_MS) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

async function until (what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('SIGHUP applies a new limit to the next login (1 → 2)', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({ 'gw.yaml': configText(app, 'limit: 1\n') })
  const gw = await startGateway(t, `${dir}/gw.yaml`)

  const first = await login(gw.base)
  const second = await login(gw.base)
  t.equal(await first.whoami(), 401, 'limit 1: the second login ended the first')

  // proxy.* is built into the connections to the app: it needs a restart, and says so.
  writeFileSync(`${dir}/gw.yaml`, configText(app, 'limit: 2\nproxy: { timeout: 30s }\n'))
  const mark = gw.output().length
  gw.child.kill('SIGHUP')
  await gw.waitFor(/"changed":\["limit"\][^\n]*"msg":"configuration reloaded"/, mark)
  await gw.waitFor(/"level":"warn"[^\n]*"needRestart":\["proxy"\][^\n]*need a restart/, mark)

  const third = await login(gw.base)
  t.equal(await second.whoami(), 'alice', 'limit 2: the third login did not end the second')
  t.equal(await third.whoami(), 'alice')

  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('SIGHUP with a broken file keeps the running configuration, and logs each problem', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({ 'gw.yaml': configText(app, 'limit: 1\n') })
  const gw = await startGateway(t, `${dir}/gw.yaml`)

  writeFileSync(`${dir}/gw.yaml`, configText(app, 'limit: two\nlimt: 3\n'))
  const mark = gw.output().length
  gw.child.kill('SIGHUP')
  await gw.waitFor(/reload refused, the running configuration stays in force: [^\n]*gw\.yaml has 2 problems:/, mark)
  await gw.waitFor(/"level":"error"[^\n]*"msg":"[^"]*gw\.yaml:\d+:\d+: limit: expected [^\n]*\n[^\n]*"msg":"[^"]*gw\.yaml:\d+:\d+: limt: unknown key/, mark)

  // Still serving, with limit 1 in force.
  const first = await login(gw.base)
  const second = await login(gw.base)
  t.equal(await first.whoami(), 401)
  t.equal(await second.whoami(), 'alice')
  t.notMatch(gw.output().slice(mark), /configuration reloaded/)

  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('SIGHUP reopens the audit file, for log rotation', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({})
  writeFileSync(`${dir}/gw.yaml`, configText(app, `limit: 1\naudit: { file: ${dir}/audit.log }\n`))
  const gw = await startGateway(t, `${dir}/gw.yaml`)
  const audit = (): string => existsSync(`${dir}/audit.log`) ? readFileSync(`${dir}/audit.log`, 'utf8') : ''
  await login(gw.base, 'alice')
  await until('alice\'s login is in the audit trail', () => audit().includes('"user":"alice"'))

  // As logrotate does: move the file away, then SIGHUP.
  renameSync(`${dir}/audit.log`, `${dir}/audit.log.1`)
  const mark = gw.output().length
  gw.child.kill('SIGHUP')
  await gw.waitFor(/configuration reloaded/, mark)
  await login(gw.base, 'bob')
  await until('bob\'s login is in a new audit file', () => audit().includes('"user":"bob"'))
  t.notMatch(audit(), /"user":"alice"/, 'the new file starts empty')
  t.notMatch(readFileSync(`${dir}/audit.log.1`, 'utf8'), /"user":"bob"/, 'nothing more went to the moved file')

  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('watch: true applies an edit without a signal, also a save that replaces the file', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({ 'gw.yaml': configText(app, 'watch: true\nlimit: 1\n') })
  const gw = await startGateway(t, `${dir}/gw.yaml`)
  await gw.waitFor(/watching the configuration file/)

  let mark = gw.output().length
  writeFileSync(`${dir}/gw.yaml`, configText(app, 'watch: true\nlimit: 2\n'))
  await gw.waitFor(/"trigger":"file changed"[^\n]*"changed":\["limit"\]/, mark)
  const first = await login(gw.base)
  const second = await login(gw.base)
  t.equal(await first.whoami(), 'alice', 'limit 2 in force')
  t.equal(await second.whoami(), 'alice')

  // As editors save: a new file renamed over the old one.
  mark = gw.output().length
  writeFileSync(`${dir}/gw.yaml.tmp`, configText(app, 'watch: true\nlimit: 1\n'))
  renameSync(`${dir}/gw.yaml.tmp`, `${dir}/gw.yaml`)
  await gw.waitFor(/"trigger":"file changed"[^\n]*"changed":\["limit"\]/, mark)
  const third = await login(gw.base)
  t.equal(await third.whoami(), 'alice')
  t.equal(await second.whoami(), 401, 'limit 1 again: the new login ended the others')
  t.equal(await first.whoami(), 401)

  // A broken save is refused like a broken SIGHUP.
  mark = gw.output().length
  writeFileSync(`${dir}/gw.yaml`, configText(app, 'watch: true\nlimit: -1\n'))
  await gw.waitFor(/"trigger":"file changed"[^\n]*reload refused/, mark)
  t.equal(await third.whoami(), 'alice')

  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
})

t.test('SIGTERM: new connections are refused, the slow request in flight completes, exit 0', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({ 'gw.yaml': configText(app, 'shutdownTimeout: 10m\n') })
  const gw = await startGateway(t, `${dir}/gw.yaml`)

  const before = app.requests
  const slow = request(`${gw.base}/slow?ms=4000`).then(async (res) => ({ status: res.statusCode, body: await res.body.text() }))
  await until('the slow request reached the app', () => app.requests > before)
  gw.child.kill('SIGTERM')
  await until('new connections are refused', async () => await refusesConnections(gw.port))

  const answer = await slow
  t.equal(answer.status, 200)
  t.match(answer.body, /slow answer/)
  // The client keeps its connection alive: that must not hold the shutdown (for Fastify's 72 s keepAliveTimeout, or shutdownTimeout).
  t.equal(await within(gw.exited, 'the process exits once the slow request is answered'), 0)
  t.notMatch(gw.output(), /closing the connections of requests still in flight/, 'nothing had to be cut')
  t.ok(await refusesConnections(gw.port))
})

t.test('SIGTERM: requests still in flight after shutdownTimeout are cut, and the process still exits 0', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({ 'gw.yaml': configText(app, 'shutdownTimeout: 500ms\n') })
  const gw = await startGateway(t, `${dir}/gw.yaml`)
  const before = app.requests
  const stuck = request(`${gw.base}/slow?ms=600000`).then(() => 'answered', () => 'cut')
  await until('the request reached the app', () => app.requests > before)
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.equal(await stuck, 'cut')
  t.match(gw.output(), /"why":"shutdownTimeout \(500 ms\) is over"[^\n]*"msg":"closing the connections of requests still in flight"/)
})

t.test('a second SIGTERM stops waiting for requests in flight; the state is still saved', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({})
  writeFileSync(`${dir}/gw.yaml`, configText(app, `shutdownTimeout: 10m\nstore: { type: memory, snapshot: ${dir}/sessions, snapshotInterval: 1h }\n`))
  const gw = await startGateway(t, `${dir}/gw.yaml`)
  const before = app.requests
  const stuck = request(`${gw.base}/slow?ms=600000`).then(() => 'answered', () => 'cut')
  await until('the request reached the app', () => app.requests > before)
  const mark = gw.output().length
  gw.child.kill('SIGTERM')
  await gw.waitFor(/stopping: refusing new connections/, mark)
  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.equal(await stuck, 'cut')
  t.match(gw.output(), /"why":"second SIGTERM"/)
  t.ok(existsSync(`${dir}/sessions`), 'the snapshot was written')
})

t.test('with a snapshot, SIGTERM saves the store: a restarted gateway still refuses an ended session', async (t) => {
  const app = await startApp(t)
  const dir = t.testdir({})
  writeFileSync(`${dir}/gw.yaml`, configText(app, `limit: 1\nstore: { type: memory, snapshot: ${dir}/sessions, snapshotInterval: 1h }\n`))
  const gw = await startGateway(t, `${dir}/gw.yaml`)
  const ended = await login(gw.base)
  const kept = await login(gw.base)
  t.equal(await ended.whoami(), 401)
  t.notOk(existsSync(`${dir}/sessions`), 'no snapshot yet (the interval is an hour)')

  gw.child.kill('SIGTERM')
  t.equal(await gw.exited, 0)
  t.ok(existsSync(`${dir}/sessions`), 'SIGTERM wrote the snapshot')

  const again = await startGateway(t, `${dir}/gw.yaml`)
  t.equal(await moved(ended, again.base).whoami(), 401, 'the ended session is still refused after the restart')
  t.equal(await moved(kept, again.base).whoami(), 'alice', 'the live one still works')
  again.child.kill('SIGTERM')
  t.equal(await again.exited, 0)
})

t.test('an admin port in use is reported at admin.port, not listen.port; exit 2', async (t) => {
  const app = await startApp(t)
  const blocker = createServer()
  blocker.listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(() => { blocker.close() })
  const port = (blocker.address() as { port: number }).port
  const dir = t.testdir({ 'gw.yaml': configText(app, `admin:\n  host: 127.0.0.1\n  port: ${port}\n  token: admin-token-0123456789abcdef\n`) })
  const child = spawn(process.execPath, [CLI, '--config', `${dir}/gw.yaml`], { env: { PATH: process.env.PATH } })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const [code] = await once(child, 'exit') as [number]
  t.equal(code, 2)
  t.match(stderr, new RegExp(`gw\\.yaml:11:9: admin\\.port: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`))
})
