import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import type { AskApp } from '../identity/whoami.js'

/** Largest answer whoami reads: enough for any "who am I" page, bounded against a runaway one. */
const MAX_ANSWER_BYTES = 256 * 1024
/**
 * Most whoami questions under way at once. Beyond, a question is not asked
 * (the caller treats the session as not identified this time, and asks again
 * later): clients sending made-up cookies must not be able to multiply the
 * load on the app without bound.
 */
const MAX_IN_FLIGHT = 32

/**
 * The gateway asking the app something itself (whoami): a plain GET to the
 * upstream, presented as the browser it asks about (its cookies, Host,
 * User-Agent and X-Forwarded-* headers, as the proxied request would carry
 * them), bounded in time, size and concurrency, on connections of its own.
 * Marked `X-Sessioncap-Whoami: 1` (a client cannot send that header: the
 * gateway removes it from requests), and `X-Requested-With: XMLHttpRequest`,
 * the common sign of a background request: frameworks then leave the
 * browser's navigation state alone (Laravel does not record it as the
 * "previous URL" a failed form is sent back to; issue #17).
 */
export function createAppClient (upstream: string): AskApp {
  const base = new URL(upstream)
  const https = base.protocol === 'https:'
  const request = https ? httpsRequest : httpRequest
  const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT }) : new HttpAgent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT })
  let inFlight = 0
  return async (path, context, timeoutMs) => {
    if (inFlight >= MAX_IN_FLIGHT) throw new Error('too many whoami questions under way')
    inFlight++
    try {
      return await new Promise((resolve, reject) => {
        const headers: Record<string, string> = {
          ...context.headers,
          accept: 'application/json, text/html;q=0.9, */*;q=0.5',
          'x-sessioncap-whoami': '1',
          'x-requested-with': 'XMLHttpRequest'
        }
        if (context.cookieHeader !== '') headers.cookie = context.cookieHeader
        const req = request(new URL(path, base), { method: 'GET', headers, timeout: timeoutMs, agent }, (res) => {
          const chunks: Buffer[] = []
          let size = 0
          res.on('data', (c: Buffer) => {
            size += c.length
            if (size > MAX_ANSWER_BYTES) { res.destroy(); reject(new Error('whoami answer too large')) } else chunks.push(c)
          })
          res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
          res.on('error', reject)
        })
        req.on('timeout', () => { req.destroy(new Error(`whoami: no answer within ${timeoutMs} ms`)) })
        req.on('error', reject)
        req.end()
      })
    } finally {
      inFlight--
    }
  }
}
