import { once } from 'node:events'
import { createReadStream, createWriteStream } from 'node:fs'
import { open, rename, unlink } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import type { MemoryStore } from './memory-store.js'
import type { StoreEvents } from './store.js'

const FORMAT = 'sessioncap-memory-snapshot'
/**
 * 2: ended sessions as fingerprint chunks of time buckets (`f`) and who ended
 * the latest (`b`), instead of one `e`/`E` record per id. Version 1 files are
 * still read; a file of a later version is refused (see `load`).
 */
export const SNAPSHOT_VERSION = 2
const READABLE_VERSIONS: ReadonlySet<unknown> = new Set([1, 2])

/** A snapshot written by a later sessioncap: starting would drop what it holds, and the next save would overwrite it. */
export class SnapshotTooNewError extends Error {
  constructor (file: string, version: unknown) {
    super(`the snapshot ${file} was written by a later sessioncap (format version ${String(version)}; this one reads ${[...READABLE_VERSIONS].join(' and ')}): upgrade sessioncap, or move the file away to start empty`)
    this.name = 'SnapshotTooNewError'
  }
}

/**
 * `store.snapshot`: the memory store written to a file every
 * `snapshotInterval` and on shutdown, and read back on start, so a single
 * gateway that restarts forgets nothing (ended sessions included).
 *
 * One JSON record per line, after a header line; written to a temporary file
 * and renamed over the old one, so a crash mid-write leaves the previous
 * snapshot whole. The file holds keyed hashes and user names, never a cookie;
 * it is created readable by its owner only. Writing yields to the event loop
 * between chunks, so a million sessions never stall the proxy.
 */
export class SnapshotWriter {
  readonly #store: MemoryStore
  readonly #file: string
  readonly #interval: number
  readonly #events: StoreEvents
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  #writing: Promise<void> | undefined

  constructor (store: MemoryStore, file: string, interval: number, events: StoreEvents, now: () => number) {
    this.#store = store
    this.#file = file
    this.#interval = interval
    this.#events = events
    this.#now = now
  }

  /**
   * Reads the snapshot if there is one. A missing file is a first start; a
   * broken one is reported and left alone. One of a later format version
   * throws SnapshotTooNewError: the gateway does not start rather than drop
   * the live sessions it holds (and overwrite it at its next save).
   */
  async load (): Promise<number> {
    let count = 0
    const input = createReadStream(this.#file, { encoding: 'utf8' })
    try {
      await once(input, 'open')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0
      this.#events.warn('cannot read the snapshot; starting empty', { file: this.#file, error: (err as Error).message })
      return 0
    }
    const now = this.#now()
    const lines = createInterface({ input, crlfDelay: Infinity })
    let header = true
    try {
      for await (const line of lines) {
        if (line === '') continue
        const parsed: unknown = JSON.parse(line)
        if (header) {
          const h = parsed as { format?: unknown, version?: unknown }
          if (h.format !== FORMAT) throw new Error(`not a ${FORMAT} file`)
          if (!READABLE_VERSIONS.has(h.version)) {
            if (typeof h.version === 'number' && h.version > SNAPSHOT_VERSION) throw new SnapshotTooNewError(this.#file, h.version)
            throw new Error(`unknown ${FORMAT} version ${String(h.version)}`)
          }
          header = false
          continue
        }
        this.#store.restore(parsed, now)
        count++
      }
    } catch (err) {
      if (err instanceof SnapshotTooNewError) {
        lines.close()
        input.destroy()
        throw err
      }
      this.#events.warn('the snapshot is damaged; kept what was read before the damage', { file: this.#file, records: count, error: (err as Error).message })
    }
    (this.#events.info ?? this.#events.warn)('snapshot loaded', { file: this.#file, records: count })
    return count
  }

  start (): void {
    this.#timer = setInterval(() => { void this.save() }, this.#interval)
    this.#timer.unref()
  }

  /** Stops the timer and writes a last snapshot, after any write already under way (it may predate the last changes). */
  async stop (): Promise<void> {
    clearInterval(this.#timer)
    if (this.#writing !== undefined) await this.#writing
    await this.save()
  }

  /** Writes a snapshot now (one at a time; a call during a write waits for it). */
  async save (): Promise<void> {
    if (this.#writing !== undefined) return await this.#writing
    this.#writing = this.#write().finally(() => { this.#writing = undefined })
    return await this.#writing
  }

  async #write (): Promise<void> {
    // A fresh name, created exclusively (never through a link someone planted), flushed to disk before it replaces the old file.
    const tmp = `${this.#file}.${randomBytes(6).toString('hex')}.tmp`
    const out = createWriteStream(tmp, { mode: 0o600, flags: 'wx' })
    try {
      const now = this.#now()
      let chunk = JSON.stringify({ format: FORMAT, version: SNAPSHOT_VERSION, at: now }) + '\n'
      for (const record of this.#store.records(now)) {
        chunk += JSON.stringify(record) + '\n'
        if (chunk.length > 64 * 1024) {
          if (!out.write(chunk)) await once(out, 'drain')
          chunk = ''
        }
      }
      out.end(chunk)
      await once(out, 'finish')
      const handle = await open(tmp, 'r')
      try { await handle.sync() } finally { await handle.close() }
      await rename(tmp, this.#file)
    } catch (err) {
      out.destroy()
      await unlink(tmp).catch(() => {})
      this.#events.warn('could not write the snapshot; the previous one is kept', { file: this.#file, error: (err as Error).message })
    }
  }
}
