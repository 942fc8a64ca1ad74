import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { AskApp } from '../identity/whoami.js'

/** Largest answer whoami reads: enough for any "who am I" page, bounded against a runaway one. */
const MAX_ANSWER_BYTES = 256 * 1024

/**
 * The gateway asking the app something itself (whoami): a plain GET to the
 * upstream, with the browser's cookies and Host, bounded in time and size.
 * Marked with `X-Sessioncap-Whoami: 1` so an app's logs can tell these apart.
 */
export function createAppClient (upstream: string, preserveHost: boolean): AskApp {
  const base = new URL(upstream)
  const request = base.protocol === 'https:' ? httpsRequest : httpRequest
  return async (path, cookieHeader, host, timeoutMs) => await new Promise((resolve, reject) => {
    const headers: Record<string, string> = {
      accept: 'application/json, text/html;q=0.9, */*;q=0.5',
      'user-agent': 'sessioncap-whoami',
      'x-sessioncap-whoami': '1'
    }
    if (cookieHeader !== '') headers.cookie = cookieHeader
    if (preserveHost && host !== undefined) headers.host = host
    const req = request(new URL(path, base), { method: 'GET', headers, timeout: timeoutMs }, (res) => {
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
}
