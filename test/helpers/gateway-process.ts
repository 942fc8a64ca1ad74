import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const SOURCE_CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
const HOOKS = new URL('./ts-hooks.mjs', import.meta.url).href
/** Deadlines only bound the waits for something to happen; nothing here measures time. */
const DEADLINE_MS = 30_000

export interface GatewayProcess {
  /** The proxied port, e.g. `http://127.0.0.1:41234` (`https://` with `listen.tls`). */
  base: string
  /** The admin API's address, if it listens. */
  adminBase: string | undefined
  child: ChildProcess
  /** Peak resident memory of the gateway process so far (VmHWM), in bytes. */
  peakRss: () => number
  /** Its stdout and stderr so far (JSON log lines and the CLI's own messages). */
  output: () => string
  /** Waits until the output after `from` (an earlier `output().length`) matches. */
  waitFor: (pattern: RegExp, from?: number) => Promise<void>
  /** Its exit code, once it exits. */
  exited: Promise<number | null>
}

export interface GatewayProcessOptions {
  /** More keys of `listen`, e.g. `tls: { cert: …, key: … }`. */
  listen?: string
}

/**
 * The gateway in its own process (so its memory can be measured apart from
 * the test's, and it can be sent signals), on a free port, stopped at
 * teardown. `yaml` is everything but `listen`. It runs the CLI's source the
 * way the tests run (Node's type stripping, test/helpers/ts-hooks.mjs), so
 * its coverage counts with theirs; the compiled bin as users run it is
 * tested by cli, lifecycle and package tests.
 */
export async function startGatewayProcess (t: Test, yaml: string, opts: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-'))
  const file = join(dir, 'gateway.yaml')
  const listen = opts.listen === undefined ? '' : `, ${opts.listen}`
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0${listen} }\nlog: { level: info }\n${yaml}`)
  const child = spawn(process.execPath, [`--import=${HOOKS}`, SOURCE_CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (c: Buffer): void => { out += c.toString(); for (const w of waiters) w() }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code); for (const w of waiters) w() }) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
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
  const base = /"address":"(https?:\/\/[^"]+)"[^\n]*"msg":"sessioncap is listening"/.exec(out)?.[1] as string
  const adminBase = /"address":"(http:\/\/[^"]+)"[^\n]*"msg":"the admin API is listening"/.exec(out)?.[1]
  const peakRss = (): number => {
    const status = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8')
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
  }
  return { base, adminBase, child, peakRss, output: () => out, waitFor, exited }
}
