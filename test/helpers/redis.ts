import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * Real redis-server processes for the tests, on free loopback ports, started
 * and stopped by the tests themselves (never the machine's own Redis), so a
 * test can kill one mid-flight and start it again on the same port with the
 * same data.
 */

const INSTALL_HINT = 'redis-server is not installed: the Redis store tests need it. Install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis`; `.ci/run` does this by itself.'

export function requireRedisServer (): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (r.error !== undefined || r.status !== 0) throw new Error(INSTALL_HINT)
}

async function portFree (port: number): Promise<boolean> {
  const s = createServer()
  return await new Promise((resolve) => {
    s.once('error', () => { resolve(false) })
    s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
}

/** A free port whose cluster bus port (+10000) is free too. */
export async function freePort (): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if (await portFree(port) && await portFree(port + 10_000)) return port
  }
  throw new Error('no free port found')
}

async function waitForPing (port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection(port, '127.0.0.1')
      let data = ''
      socket.setTimeout(500, () => { socket.destroy(); resolve(false) })
      socket.on('data', (c: Buffer) => { data += c.toString(); if (data.includes('PONG')) { socket.end(); resolve(true) } })
      socket.on('error', () => { resolve(false) })
      socket.write('PING\r\n')
    })
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`redis-server on port ${port} did not answer PING`)
}

export interface RedisServer {
  port: number
  url: string
  dir: string
  /** Kills the server (SIGKILL: no chance to save anything beyond what is on disk already). */
  kill: () => Promise<void>
  /** Starts it again on the same port and data directory. */
  start: () => Promise<void>
  /** Runs redis-cli against it and returns its output. */
  cli: (...args: string[]) => string
}

export interface RedisOptions {
  /** Extra redis-server arguments. */
  args?: string[]
  /** Keep data across kill/start with an append-only file written on every command (default true). */
  persistent?: boolean
  /** A port chosen beforehand (e.g. one a gateway already points at); a free one otherwise. */
  port?: number
}

/** A standalone redis-server, stopped at teardown. */
export async function startRedis (t: Test, opts: RedisOptions = {}): Promise<RedisServer> {
  requireRedisServer()
  const port = opts.port ?? await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-redis-'))
  const persistence = opts.persistent === false
    ? ['--save', '', '--appendonly', 'no']
    : ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always']
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--protected-mode', 'no', ...persistence, ...(opts.args ?? [])]
  let child: ChildProcess | undefined
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    async kill () {
      // Killed already (a signal leaves exitCode null): there is nothing to wait for.
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
      const c = child
      c.kill('SIGKILL')
      await once(c, 'exit')
    },
    async start () {
      child = spawn('redis-server', args, { stdio: 'ignore' })
      await waitForPing(port)
    },
    cli: (...cliArgs) => spawnSync('redis-cli', ['-p', String(port), ...cliArgs], { encoding: 'utf8' }).stdout
  }
  await server.start()
  t.teardown(async () => { await server.kill() })
  return server
}

export interface RedisCluster {
  nodes: Array<{ host: string, port: number }>
  servers: RedisServer[]
}

/** Three masters made into a Redis Cluster with `redis-cli --cluster create`. */
export async function startCluster (t: Test): Promise<RedisCluster> {
  const servers: RedisServer[] = []
  for (let i = 0; i < 3; i++) {
    servers.push(await startRedis(t, { persistent: false, args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--cluster-node-timeout', '2000'] }))
  }
  const created = spawnSync('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8' })
  if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}${created.stderr}`)
  const deadline = Date.now() + 15_000
  while (!servers.every((s) => s.cli('cluster', 'info').includes('cluster_state:ok'))) {
    if (Date.now() > deadline) throw new Error('cluster did not become ok')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return { nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })), servers }
}

export interface RedisSentinel {
  master: RedisServer
  sentinels: Array<{ host: string, port: number }>
  name: string
}

/** A master watched by one Sentinel (quorum 1), as `store.sentinels` expects. */
export async function startSentinel (t: Test): Promise<RedisSentinel> {
  const master = await startRedis(t, { persistent: false })
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-sentinel-'))
  const conf = join(dir, 'sentinel.conf')
  writeFileSync(conf, [
    `port ${port}`, 'bind 127.0.0.1', 'protected-mode no', `dir ${dir}`,
    `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
    'sentinel down-after-milliseconds mymaster 2000'
  ].join('\n') + '\n')
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' })
  t.teardown(async () => {
    if (child.exitCode === null) { child.kill('SIGKILL'); await once(child, 'exit') }
  })
  await waitForPing(port)
  return { master, sentinels: [{ host: '127.0.0.1', port }], name: 'mymaster' }
}
