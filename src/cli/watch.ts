import { watch, readFileSync, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

/** Editors write a file in several steps (truncate, write, rename); one reload after they are done. */
const SETTLE_MS = 200

export interface FileWatch {
  close: () => void
}

/**
 * Calls `changed` once a file's content has changed and then stayed still
 * for a moment. The directory is watched rather than the file: editors that
 * save by writing a new file and renaming it over the old one replace the
 * file's inode, and a watch on the old inode would go quiet. Events of other
 * files in the directory are ignored, except Kubernetes' `..data` link, which
 * is how a mounted ConfigMap is updated. The content is compared, so a save
 * without a change (or `touch`) does not reload.
 */
export function watchFile (file: string, changed: () => void, failed: (err: Error) => void): FileWatch {
  const path = resolve(file)
  const name = basename(path)
  let last = read(path)
  let timer: NodeJS.Timeout | undefined
  const settle = (): void => {
    timer = undefined
    const now = read(path)
    if (now === last) return
    last = now
    changed()
  }
  let watcher: FSWatcher
  try {
    watcher = watch(dirname(path), { persistent: false }, (_event, changedName) => {
      if (changedName !== null && changedName !== name && !changedName.startsWith('..')) return
      clearTimeout(timer)
      timer = setTimeout(settle, SETTLE_MS)
    })
  } catch (err) {
    failed(err as Error)
    return { close: () => {} }
  }
  watcher.on('error', failed)
  return {
    close: () => {
      clearTimeout(timer)
      watcher.close()
    }
  }
}

/** The file's text, or why it cannot be read: a file that vanishes and comes back different is a change too. */
function read (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    return `\0unreadable: ${(err as NodeJS.ErrnoException).code ?? ''}`
  }
}
