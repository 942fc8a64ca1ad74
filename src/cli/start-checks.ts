import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import type { LoadedConfig } from '../config/load.js'
import { formatProblem } from '../config/problem.js'
import { templateProblems } from '../pages/templates.js'
import { SNAPSHOT_VERSION, SnapshotTooNewError } from '../store/snapshot.js'
import { UnusableConfig } from './config-file.js'

/**
 * The files the gateway reads and writes at start, besides its
 * configuration file, checked the way the gateway will use them: the pages'
 * templates (the built-in ones too: a package without its templates/ folder
 * crashed at the first page before), the snapshot (its folder must take the
 * file it writes; one written by a later version stops the start) and the
 * audit file's folder. Run by `sessioncap check`, so that its `ok` means a
 * start will get this far, and before `run`, so that a start that cannot
 * work says why before anything listens. Nothing is written or connected:
 * permissions are checked for the user running the command, so run `check`
 * as the user the gateway runs as.
 *
 * Throws `UnusableConfig` with one line per problem.
 */
export function checkStart (loaded: LoadedConfig): void {
  const { config, file } = loaded
  const lines: string[] = []
  const at = (segments: (string | number)[], message: string): void => {
    lines.push(formatProblem({ ...loaded.locate(segments), path: segments.join('.'), message }))
  }

  // The operator's own templates are checked with the configuration (checks.ts); the built-in ones only here.
  for (const p of templateProblems(config.pages.templates)) {
    if (p.builtIn) lines.push(`${p.file}: ${p.message}`)
  }

  if (config.store.type === 'memory' && config.store.snapshot !== undefined) {
    const snapshot = resolve(config.store.snapshot)
    const problem = folderProblem(dirname(snapshot), 'the snapshot could never be saved') ?? snapshotProblem(snapshot)
    if (problem !== undefined) at(['store', 'snapshot'], problem)
  }

  const audit = config.audit.file
  if (audit !== undefined && audit !== '-') {
    const path = resolve(audit)
    const problem = folderProblem(dirname(path), 'the audit trail would lose every event') ?? writableFileProblem(path)
    if (problem !== undefined) at(['audit', 'file'], problem)
  }

  if (lines.length > 0) {
    const n = lines.length
    throw new UnusableConfig(file, [`${file}: the gateway cannot start: ${n} problem${n === 1 ? '' : 's'}:`, ...lines])
  }
}

/** Why files cannot be created in `folder` by this process, or undefined. */
function folderProblem (folder: string, consequence: string): string | undefined {
  let isFolder: boolean
  try {
    isFolder = statSync(folder).isDirectory()
  } catch {
    return `no such folder: ${folder} (${consequence})`
  }
  if (!isFolder) return `not a folder: ${folder} (${consequence})`
  try {
    // The snapshot is written to a new file beside the old one, then renamed over it: the folder itself must be writable.
    accessSync(folder, constants.W_OK | constants.X_OK)
  } catch {
    return `the folder ${folder} is not writable by this user (uid ${process.getuid?.() ?? '?'}): ${consequence}`
  }
  return undefined
}

/** An existing snapshot must be readable, and of a version this sessioncap reads (a later one stops the start). */
function snapshotProblem (file: string): string | undefined {
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // None yet: a first start.
    if (code === 'ENOENT') return undefined
    return `cannot read the snapshot ${file} (${code ?? String(err)})`
  }
  try {
    // The header is the first line, well within 4 KiB; a damaged file is the gateway's to report (it keeps what it can read).
    const buf = Buffer.alloc(4096)
    const n = readSync(fd, buf, 0, buf.length, 0)
    const first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? ''
    let version: unknown
    try { version = (JSON.parse(first) as { version?: unknown }).version } catch { return undefined }
    return typeof version === 'number' && version > SNAPSHOT_VERSION ? new SnapshotTooNewError(file, version).message : undefined
  } finally {
    closeSync(fd)
  }
}

function writableFileProblem (file: string): string | undefined {
  try {
    accessSync(file, constants.W_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    return `cannot write ${file} (${code ?? String(err)}): the audit trail would lose every event`
  }
  return undefined
}
