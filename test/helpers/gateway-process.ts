import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'

const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface GatewayProcess {
  base: string
  child: ChildProcess
  /** Peak resident memory of the gateway process so far (VmHWM), in bytes. */
  peakRss: () => number
}

/**
 * The gateway as users run it: the compiled CLI in its own process (so its
 * memory can be measured apart from the test's), on a free port, stopped at
 * teardown. `yaml` is everything but `listen`.
 */
export async function startGatewayProcess (t: Test, yaml: string): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-'))
  const file = join(dir, 'gateway.yaml')
  writeFileSync(file, `listen: { host: 127.0.0.1, port: 0 }\nlog: { level: info }\n${yaml}`)
  const child = spawn(process.execPath, [CLI, '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })
  const base = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /"address":"(http:\/\/[^"]+)"/.exec(out)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.once('exit', (code) => { reject(new Error(`gateway exited with ${String(code)}: ${out}`)) })
  })
  const peakRss = (): number => {
    const status = readFileSync(`/proc/${String(child.pid)}/status`, 'utf8')
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
  }
  return { base, child, peakRss }
}
