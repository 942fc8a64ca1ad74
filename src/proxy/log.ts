import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config/schema.js'
import { canonicalCookieName } from '../http/cookies.js'

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

export function logOptions (config: Config, stream?: NodeJS.WritableStream): FastifyServerOptions['logger'] {
  return {
    level: config.log.level,
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

/** `/x;jsessionid=abc?PHPSESSID=def` → `/x;jsessionid=[redacted]?PHPSESSID=[redacted]` for the session cookie's name. */
export function redactUrlSession (url: string, cookieName: string): string {
  const wanted = canonicalCookieName(cookieName)
  return url.replace(/([;?&])([^=;?&#/]+)=([^;?&#/]*)/g, (all, sep: string, name: string) =>
    canonicalCookieName(name) === wanted ? `${sep}${name}=[redacted]` : all)
}
