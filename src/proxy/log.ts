import type { FastifyServerOptions } from 'fastify'
import sonicBoom, { type SonicBoomOpts } from 'sonic-boom'
import type { Config } from '../config/schema.js'
import { redactUrlSessionIds } from '../http/cookies.js'

/**
 * Logs never hold a cookie: the headers that carry one are redacted wherever
 * a serializer might put them, and sessions appear only as short keyed hashes.
 */
export const REDACT_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]'
]

/** Log lines kept while stdout cannot take them; beyond, new lines are dropped (counted). */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024
/** A full pipe (EAGAIN) is tried again every 100 ms this many times in a row before it counts as a failure. */
const WRITE_RETRIES = 20

/**
 * Where log lines go when no stream is given: stdout, in batches. pino's
 * default writes each line with its own blocking write(2), which cost ~25 us
 * per login (one line each) in the benchmark. Lines are written once 4 KiB
 * are pending, and at least every second, so a line is at most a second late;
 * on exit (and shutdown) whatever is pending is written at once.
 *
 * When stdout cannot be written (a full disk, a reader that stopped reading
 * or went away) the gateway goes on serving: it says so once on stderr, keeps
 * up to LOG_BUFFER_MAX_BYTES of lines, drops the rest (counted), and says
 * when lines go out again. sonic-boom 5, not pino's own 4: its flushSync
 * retried every failed write for ever (a full disk at exit: a process that
 * neither serves nor stops), and pino re-emitted any error but EPIPE where
 * nothing listened (a full disk at run time: a crash).
 */
export function stdoutLog (): { stream: NodeJS.WritableStream, flush: () => void } {
  // CommonJS: its class is a property of the module (Node finds no named export to import).
  const destination = new sonicBoom.SonicBoom({ fd: 1, sync: false, minLength: 4096, maxLength: LOG_BUFFER_MAX_BYTES, maxWriteRetries: WRITE_RETRIES } as SonicBoomOpts)
  let failing = false
  let dropped = 0
  destination.on('drop', () => { dropped++ })
  destination.on('error', (err: NodeJS.ErrnoException) => {
    if (failing) return
    failing = true
    process.stderr.write(`sessioncap: cannot write log lines to stdout (${err.code ?? err.message}); up to ${LOG_BUFFER_MAX_BYTES / 1024 / 1024} MiB of them are kept meanwhile, newer ones are dropped\n`)
  })
  destination.on('write', () => {
    if (!failing) return
    failing = false
    process.stderr.write(`sessioncap: log lines are written to stdout again (${dropped} dropped meanwhile)\n`)
    dropped = 0
  })
  setInterval(() => {
    try {
      destination.flush()
    } catch {
      // Not open yet: the next tick will do.
    }
  }, 1000).unref()
  const flush = (): void => {
    try {
      // sonic-boom 5 gives up on a failed write at once, on a full pipe after WRITE_RETRIES tries.
      destination.flushSync()
    } catch {
      // Not open yet, or stdout cannot be written: nothing more can be done.
    }
  }
  // Whatever ends the process, the last lines (often the ones that say why) go out.
  process.once('exit', flush)
  return {
    // A SonicBoom: what pino writes to best; its types are not Node's WritableStream.
    stream: destination as unknown as NodeJS.WritableStream,
    flush
  }
}

export function logOptions (config: Config, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level: config.log.level,
    // Lines a person reads as well as a machine: "level":"warn", "time":"2026-12-03T14:51:06.123Z".
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      // Fastify's own request serializer, with session ids carried in the URL masked.
      req: (req: { method?: string, url?: string, host?: string, ip?: string, socket?: { remotePort?: number } }) => ({
        method: req.method,
        url: req.url === undefined ? undefined : redactUrlSession(req.url, config.session.cookie),
        host: req.host,
        remoteAddress: req.ip,
        remotePort: req.socket?.remotePort
      })
    },
    ...(stream === undefined ? {} : { stream })
  }
}

/** pino's timestamp as ISO-8601 (its `stdTimeFunctions.isoTime`, without importing pino for one line). */
function isoTime (): string {
  return `,"time":"${new Date().toISOString()}"`
}

/** `/x;jsessionid=abc?PHPSESSID=def` → `/x;jsessionid=[redacted]?PHPSESSID=[redacted]` for the session cookie's name (every spelling the gateway reads). */
export function redactUrlSession (url: string, cookieName: string): string {
  return redactUrlSessionIds(url, cookieName)
}
