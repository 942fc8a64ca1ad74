import type { IncomingHttpHeaders } from 'node:http'
import type { Client } from '../ops/events.js'

/** Who made a request, for the audit trail: the address the gateway trusts and a bounded User-Agent. */
export function clientOf (request: { ip: string, headers: IncomingHttpHeaders } | undefined): Client | undefined {
  if (request === undefined) return undefined
  const ua = request.headers['user-agent']
  return { ip: request.ip, ...(ua === undefined ? {} : { userAgent: ua.slice(0, 512) }) }
}
