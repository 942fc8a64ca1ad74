// Helpers of the benchmark: processes, pinning, CPU time, ports, Redis, nginx, logins.
import { fork, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createConnection, createServer } from 'node:net'
import { join } from 'node:path'

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/** Whether a program is on PATH. */
export function onPath (cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
}

/** utime+stime of the processes (all their threads), in seconds. */
export function cpuSeconds (pids) {
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Fields after the command name (which may hold spaces), from field 3 on.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(rest[11]) + Number(rest[12])
    } catch { /* gone */ }
  }
  return ticks / CLK_TCK
}

/**
 * CPU seconds of one process, split: its main thread (the JavaScript, HTTP
 * parsing, hashing) and all its other threads (V8's concurrent marking,
 * sweeping and compiling, libuv's pool). Threads that ended are not counted.
 */
export function threadSeconds (pid) {
  let main = 0
  let other = 0
  let tids = []
  try { tids = readdirSync(`/proc/${pid}/task`) } catch { /* gone */ }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const t = (Number(rest[11]) + Number(rest[12])) / CLK_TCK
      if (Number(tid) === pid) main += t; else other += t
    } catch { /* gone */ }
  }
  return { main, other }
}

/** CPU seconds the whole machine spent busy (all cores), from /proc/stat. */
export function machineBusySeconds () {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]
    const f = line.trim().split(/\s+/).slice(1).map(Number)
    // user nice system idle iowait irq softirq steal: everything but idle and iowait.
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / CLK_TCK
  } catch { return 0 }
}

/** The direct children of a process (nginx's workers). */
export function childPids (pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch { return [] }
}

export let pinning = onPath('taskset')

/** Pins every thread of a running process to one core. */
export function pin (pid, core) {
  if (!pinning) return
  const r = spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`taskset failed for ${pid}: ${r.stderr}`)
}

export function disablePinning () { pinning = false }

const children = new Set()

/** Starts a Node script with an IPC channel, waits for its { ready } message, pins it. */
export async function startNode (file, args, { core, execArgv = [], execPath, logFile, env } = {}) {
  const out = logFile === undefined ? 'ignore' : openSync(logFile, 'a')
  const child = fork(file, args, { execArgv, ...(execPath === undefined ? {} : { execPath }), stdio: ['ignore', out, out, 'ipc'], env: { ...process.env, ...env } })
  children.add(child)
  child.on('exit', () => { children.delete(child) })
  const ready = await new Promise((resolve, reject) => {
    const onMessage = (m) => { if (m?.ready === true) { child.off('message', onMessage); resolve(m) } }
    child.on('message', onMessage)
    child.once('exit', (code) => { reject(new Error(`${file} exited with ${code} before it was ready${logFile === undefined ? '' : ` (see ${logFile})`}`)) })
  })
  if (core !== undefined) pin(child.pid, core)
  return { child, pid: child.pid, ...ready }
}

/** Starts a program pinned from the start (taskset -c CORE program …). */
export function startPinned (cmd, args, core, opts = {}) {
  const child = pinning && core !== undefined
    ? spawn('taskset', ['-c', String(core), cmd, ...args], { stdio: 'ignore', ...opts })
    : spawn(cmd, args, { stdio: 'ignore', ...opts })
  children.add(child)
  child.on('exit', () => { children.delete(child) })
  return child
}

/** Stops every child this process started (each by its own pid). */
export async function stopAll () {
  await Promise.all([...children].map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    if (child.connected) child.disconnect()
    const t = setTimeout(() => { child.kill('SIGTERM') }, 2_000)
    const k = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await exited
    clearTimeout(t); clearTimeout(k)
  }))
}

async function portFree (port) {
  const s = createServer()
  return await new Promise((resolve) => {
    s.once('error', () => { resolve(false) })
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
}

/** A free loopback port (never 6379: the machine's own Redis is not ours). */
export async function freePort () {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (await portFree(port)) return port
  }
  throw new Error('no free port found')
}

async function waitFor (check, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`${what} did not come up`)
}

async function redisPing (port) {
  return await new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1')
    let data = ''
    socket.setTimeout(500, () => { socket.destroy(); resolve(false) })
    socket.on('data', (c) => { data += c.toString(); if (data.includes('PONG')) { socket.end(); resolve(true) } })
    socket.on('error', () => { resolve(false) })
    socket.write('PING\r\n')
  })
}

/** Our own redis-server on a free port, data in `dir`, pinned to `core`. */
export async function startRedis (dir, core, { persistent = true } = {}) {
  const port = await freePort()
  mkdirSync(dir, { recursive: true })
  const persistence = persistent ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']
  const child = startPinned('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--protected-mode', 'no',
    '--save', '', ...persistence, '--maxmemory-policy', 'noeviction', '--logfile', join(dir, 'redis.log')], core)
  await waitFor(() => redisPing(port), `redis-server on port ${port}`)
  return { child, pid: child.pid, port, url: `redis://127.0.0.1:${port}`, cli: (...a) => spawnSync('redis-cli', ['-p', String(port), ...a], { encoding: 'utf8' }).stdout }
}

/** nginx as a plain reverse proxy in front of `upstream`, in the foreground, everything under `dir`. */
export async function startNginx (dir, upstream, core) {
  const port = await freePort()
  mkdirSync(dir, { recursive: true })
  const up = new URL(upstream)
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, `worker_processes 1;
daemon off;
master_process on;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  upstream app { server ${up.hostname}:${up.port}; keepalive 128; keepalive_timeout 60s; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_buffering on;
      proxy_read_timeout 60s;
    }
  }
}
`)
  // -e: the early error log too goes to our folder (not /var/log/nginx).
  const child = startPinned('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], core)
  await waitFor(() => portFree(port).then((free) => !free), `nginx on port ${port}`)
  return { child, pid: child.pid, pids: () => [child.pid, ...childPids(child.pid)], url: `http://127.0.0.1:${port}` }
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

/** One HTTP exchange; resolves to { status, headers } (the body is drained). */
export async function exchange (base, method, path, { body, cookie, accept = 'application/json' } = {}) {
  const url = new URL(path, base)
  return await new Promise((resolve, reject) => {
    const headers = { accept }
    if (cookie !== undefined) headers.cookie = cookie
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      headers['content-length'] = Buffer.byteLength(body)
    }
    const req = request(url, { method, headers, agent }, (res) => {
      res.resume()
      res.on('end', () => { resolve({ status: res.statusCode, headers: res.headers }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Signs `user` in through `base`; resolves to the new session cookie's value (or undefined). */
export async function login (base, user) {
  const r = await exchange(base, 'POST', '/login', { body: `username=${encodeURIComponent(user)}&password=secret` })
  const set = [].concat(r.headers['set-cookie'] ?? [])
  for (const c of set) {
    const m = /^sessionid=([^;]*)/.exec(c)
    if (m !== null && m[1] !== '') return m[1]
  }
  return undefined
}

/** Runs `fn(i)` for i in [0, n) with at most `width` in flight. */
export async function inParallel (n, width, fn) {
  const out = new Array(n)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(width, n) }, async () => {
    while (next < n) {
      const i = next++
      out[i] = await fn(i)
    }
  }))
  return out
}

export function median (xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b)
  if (s.length === 0) return null
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

export function machine () {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : ''
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown'
  const mhz = /^cpu MHz\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]
  const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length
  const mem = /^MemTotal:\s*(\d+)/m.exec(existsSync('/proc/meminfo') ? readFileSync('/proc/meminfo', 'utf8') : '')?.[1]
  const version = (cmd, args, re) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    if (r.error !== undefined) return null
    return re.exec(`${r.stdout}${r.stderr}`)?.[1] ?? null
  }
  return {
    cpu: model,
    mhz: mhz === undefined ? null : Number(mhz),
    cores,
    memoryGiB: mem === undefined ? null : Math.round(Number(mem) / 1024 / 1024),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    node: process.version,
    redis: version('redis-server', ['--version'], /v=(\S+)/),
    nginx: version('nginx', ['-v'], /nginx\/(\S+)/),
    autocannon: JSON.parse(readFileSync(new URL('../node_modules/autocannon/package.json', import.meta.url), 'utf8')).version
  }
}

/**
 * Script calls a Redis server has answered so far (INFO commandstats), or
 * undefined: the gateway's hot path talks to Redis only through its scripts,
 * one round trip each (the commands a script runs inside Redis count apart).
 */
export function redisCommands (redis) {
  const text = redis.cli('info', 'commandstats') ?? ''
  let calls = 0
  for (const m of text.matchAll(/^cmdstat_(?:evalsha|eval|evalsha_ro|eval_ro):calls=(\d+)/gm)) calls += Number(m[1])
  return text.includes('cmdstat_') ? calls : undefined
}

/** The secret and the limit every benchmark gateway runs with. */
export const BENCH_SECRET = 'bench-secret-0123456789abcdef0123456789abcdef'
export const BENCH_LIMIT = 2

/** A benchmark gateway's configuration: the app, the login and logout routes the load uses, limit 2, then `extra` (the store, any other key). */
export function gatewayYaml (upstream, extra) {
  return `upstream: ${upstream}
listen: { host: 127.0.0.1, port: 0 }
secret: ${BENCH_SECRET}
session: { cookie: sessionid }
login:
  - { method: POST, path: /login, user: { form: username }, status: [302] }
logout:
  - path: /logout
limit: ${BENCH_LIMIT}
${extra}
`
}

/** Hands jobs to a load generator (bench/load.mjs, started with startNode); resolves with each job's result. */
export function loadRunner (load, defaults = {}) {
  let jobId = 0
  return (job) => new Promise((resolve, reject) => {
    const id = ++jobId
    const onMessage = (m) => {
      if (m?.id !== id) return
      load.child.off('message', onMessage)
      if (m.error !== undefined) reject(new Error(m.error)); else resolve(m.result)
    }
    load.child.on('message', onMessage)
    load.child.send({ id, ...defaults, ...job })
  })
}
