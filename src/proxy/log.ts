import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config/schema.js'

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

export function logOptions (config: Config): FastifyServerOptions['logger'] {
  return {
    level: config.log.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' }
  }
}
