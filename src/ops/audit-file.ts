import { createWriteStream, type WriteStream } from 'node:fs'
import type { AuditLog } from './audit.js'

/**
 * Most bytes of audit lines waiting for the file (or stdout) at once: 8 MiB,
 * some 20,000 events of 300–500 bytes. A disk that stalls for a while (a
 * full NFS server, a saturated volume) costs at most this much memory, and
 * holds well over an hour of a busy gateway's logins and endings, so a
 * stall that ends loses nothing; one that does not end cannot grow the
 * gateway without bound. Beyond it, new events are dropped (and counted).
 */
export const AUDIT_FILE_BUFFER_BYTES = 8 * 1024 * 1024

/** A warning about dropped events at most this often. */
const WARN_EVERY_MS = 60_000

/**
 * The audit trail's file (`audit.file`; `-` is stdout): lines appended in
 * order, never waited for. The write stream's own buffer is the queue, and
 * it is bounded: a line that would take it past `maxBytes` is dropped
 * rather than written, so a slow disk slows nothing and grows nothing.
 * (`write` on a stream in back-pressure would accept it and keep it.)
 */
export class AuditFile {
  readonly #path: string
  readonly #log: AuditLog
  readonly #now: () => number
  readonly #maxBytes: number
  #stream: WriteStream | NodeJS.WritableStream
  #failing = false
  #lastWarned = -Infinity
  #droppedSinceWarning = 0
  /** Events not written: the buffer was full, or the file could not be written. */
  dropped = 0

  constructor (path: string, log: AuditLog, now: () => number, maxBytes = AUDIT_FILE_BUFFER_BYTES) {
    this.#path = path
    this.#log = log
    this.#now = now
    this.#maxBytes = maxBytes
    this.#stream = this.#open()
  }

  /** Bytes written but not yet taken by the file. */
  get buffered (): number {
    return (this.#stream as WriteStream).writableLength
  }

  write (line: string): void {
    const stream = this.#stream as WriteStream
    // A stream that failed (the file could not be opened or written) takes
    // nothing more; that is logged once, on its error.
    if (stream.destroyed) {
      this.dropped++
      return
    }
    if (stream.writableLength + Buffer.byteLength(line) > this.#maxBytes) {
      this.#drop()
      return
    }
    stream.write(line)
  }

  /** Reopens the file (after log rotation moved it away); the old one is finished in the background. */
  reopen (): void {
    if (this.#path === '-') return
    const old = this.#stream as WriteStream
    this.#stream = this.#open()
    old.end()
  }

  /** Writes out what is buffered (stdout stays open). */
  async close (): Promise<void> {
    const stream = this.#stream
    if (stream === process.stdout) return
    await new Promise<void>((resolve) => { (stream as WriteStream).end(resolve) })
  }

  #drop (): void {
    this.dropped++
    this.#droppedSinceWarning++
    const now = this.#now()
    if (now - this.#lastWarned < WARN_EVERY_MS) return
    this.#log.warn({ file: this.#path, dropped: this.#droppedSinceWarning, bufferBytes: this.#maxBytes }, 'audit trail: the file is not keeping up; dropping events')
    this.#lastWarned = now
    this.#droppedSinceWarning = 0
  }

  #open (): WriteStream | NodeJS.WritableStream {
    if (this.#path === '-') return process.stdout
    const stream = createWriteStream(this.#path, { flags: 'a' })
    stream.on('error', (err) => {
      // Logged once until the file works again; the gateway goes on.
      if (!this.#failing) this.#log.warn({ err, file: this.#path }, 'audit trail: cannot write the file; events are lost until it works again')
      this.#failing = true
    })
    stream.on('open', () => { this.#failing = false })
    return stream
  }
}
