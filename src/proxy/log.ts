import type { FastifyServerOptions } from 'fastify'
import { pino } from 'pino'
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

/**
 * Where log lines go when no stream is given: stdout, in batches. pino's
 * default writes each line with its own blocking write(2), which cost ~25 us
 * per login (one line each) in the benchmark. Lines are written once 4 KiB
 * are pending, and at least every second, so a line is at most a second late;
 * on exit (and shutdown) whatever is pending is written at once.
 */
export function stdoutLog (): { stream: NodeJS.WritableStream, flush: () => void } {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 })
  setInterval(() => {
    try {
      destination.flush()
    } catch {
      // Not open yet: the next tick will do.
    }
  }, 1000).unref()
  const flush = (): void => {
    try {
      destination.flushSync()
    } catch {
      // Not open yet, or stdout is gone: nothing more can be written anyway.
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
