import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Run { code: number | null, stdout: string, stderr: string }

/**
 * The environment a command of the test runs in, as a user's shell would
 * have it: the test's, without the `npm_*` variables `npm test` exported (an
 * inner npm would take `npm_config_*` for its own settings; the cache and
 * registry are kept) and without tap's (its NODE_OPTIONS loader, coverage).
 */
export function cleanEnv (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    const npm = k.toLowerCase().startsWith('npm_') && !/^npm_config_(cache|registry|userconfig)$/i.test(k)
    const tap = /^(_?TAP|NODE_OPTIONS$|NODE_V8_COVERAGE$|TS_NODE_)/.test(k)
    if (!npm && !tap) env[k] = v
  }
  return { ...env, ...extra }
}

/** Runs a command to its end; never throws on a non-zero exit. */
export async function run (command: string, args: string[], opts: { cwd?: string, env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawn(command, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const [code] = await Promise.race([
    once(child, 'exit') as Promise<[number | null]>,
    once(child, 'error').then(([err]) => { throw err as Error })
  ])
  return { code, stdout, stderr }
}

export interface Packed {
  /** The tarball `npm pack` wrote. */
  tarball: string
  /** The paths it holds, as `npm pack --json` lists them (`dist/cli.js`, `templates/layout.html`…). */
  files: string[]
}

/**
 * `npm pack` of this checkout, as it would be published. Scripts are not
 * run: `npm test` has just built dist/ (packing would build it again).
 */
export async function pack (into: string): Promise<Packed> {
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) throw new Error('dist/ is not built: run `npm run build` (npm test does) before packing')
  const r = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', into])
  if (r.code !== 0) throw new Error(`npm pack failed (${String(r.code)}):\n${r.stderr}`)
  const [info] = JSON.parse(r.stdout) as [{ filename: string, files: { path: string }[] }]
  return { tarball: join(into, info.filename), files: info.files.map((f) => f.path) }
}

/**
 * Installs a tarball as a user would, with its production dependencies only,
 * into a prefix of its own; resolves to the installed package's folder.
 * `--prefer-offline`: the npm cache usually holds every dependency already.
 */
export async function installTarball (tarball: string, prefix: string): Promise<string> {
  mkdirSync(prefix, { recursive: true })
  const r = await run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-save', '--loglevel=error', '--prefix', prefix, tarball])
  if (r.code !== 0) throw new Error(`npm install of ${tarball} failed (${String(r.code)}):\n${r.stderr}`)
  return join(prefix, 'node_modules', 'sessioncap')
}
