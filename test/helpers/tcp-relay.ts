import { createConnection, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

/**
 * A loopback TCP relay in front of a real server (a redis-server), for
 * network faults the server itself cannot stage at a chosen moment: every
 * connection dropped at once (a network blip), or a server's answers held
 * back on a connection once the client has sent a given command (a reply
 * lost in flight). The bytes are the real server's; nothing is parsed
 * beyond looking for a command's name in what the client sent.
 */
export interface TcpRelay {
  port: number
  url: string
  /** Drops every open connection (both sides), as a network blip would. */
  dropAll: () => void
  /**
   * From now on, on a connection whose client sends something matching
   * `pattern`, what the server answers from then on is held back (never
   * delivered): the client waits for a reply that does not come.
   */
  holdRepliesAfter: (pattern: RegExp) => void
  /** How many of the clients' writes so far match `pattern` (counted since the relay started). */
  count: (pattern: RegExp) => number
  /** Resolves once clients have sent something matching `pattern` `times` times in all (counted since the relay started). */
  seen: (pattern: RegExp, times?: number) => Promise<void>
}

export async function startRelay (t: Test, targetPort: number): Promise<TcpRelay> {
  const pairs = new Set<[Socket, Socket]>()
  const sent: string[] = []
  let hold: RegExp | undefined
  const server = createServer((client) => {
    const upstream = createConnection(targetPort, '127.0.0.1')
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    let holding = false
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      sent.push(text)
      if (hold?.test(text) === true) holding = true
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => { if (!holding) client.write(chunk) })
    const close = (): void => { pairs.delete(pair); client.destroy(); upstream.destroy() }
    client.on('close', close)
    upstream.on('close', close)
    client.on('error', close)
    upstream.on('error', close)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as { port: number }).port
  t.teardown(async () => {
    for (const [a, b] of pairs) { a.destroy(); b.destroy() }
    await new Promise((resolve) => { server.close(resolve) })
  })
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dropAll: () => { for (const [a, b] of [...pairs]) { a.destroy(); b.destroy() } },
    holdRepliesAfter: (pattern) => { hold = pattern },
    count: (pattern) => sent.filter((s) => pattern.test(s)).length,
    seen: async (pattern, times = 1) => {
      const deadline = Date.now() + 10_000
      while (sent.filter((s) => pattern.test(s)).length < times) {
        if (Date.now() > deadline) throw new Error(`the relay never saw ${String(pattern)} ${times} time(s)`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  }
}
