import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { Agent, type Dispatcher } from 'undici'

type RequestCallback = (err: Error | null, data: Dispatcher.ResponseData) => void

/**
 * The connections to the app, handed to reply-from as its `undici` option
 * (it takes any object with a callback-style `request`), so that a client
 * who goes away takes its request to the app with it: the app sees its
 * connection close instead of working on for nobody.
 *
 * reply-from builds the undici request itself and passes no signal (12.6;
 * issue #419 there), so the proxy's handler names the client's response
 * around `reply.from` (`forward`), which calls `request` synchronously:
 * retries, the one asynchronous path, are off (upstream.ts). A request made
 * outside `forward` (none today) simply cannot be cancelled.
 *
 * The client's *response* is watched, not its request: a request whose body
 * the gateway has read to the end (a buffered login) never reports being
 * aborted, but its response still closes unfinished when the client leaves.
 */
export class UpstreamPool {
  readonly #agent: Agent
  #client: ServerResponse | undefined

  constructor (options: Agent.Options) {
    this.#agent = new Agent(options)
  }

  /** Calls `send` (which calls `reply.from`) with `client` as the response its request to the app is for. */
  forward<T> (client: ServerResponse, send: () => T): T {
    this.#client = client
    try {
      return send()
    } finally {
      this.#client = undefined
    }
  }

  request (options: Dispatcher.RequestOptions, callback: RequestCallback): void {
    const client = this.#client
    this.#client = undefined
    if (client === undefined) {
      this.#agent.request(options, callback)
      return
    }
    // Gone before the request is even made (e.g. while a login body was
    // read): nobody is waiting, so the app is not asked.
    if (gone(client) && !client.writableEnded) return
    let left = false
    // An EventEmitter, which undici accepts as a signal, costs less per
    // request than an AbortController.
    const signal = new EventEmitter()
    client.once('close', () => {
      // 'close' follows a complete answer too; only an unfinished one means the client left.
      if (client.writableEnded) return
      left = true
      signal.emit('abort')
    })
    this.#agent.request({ ...options, signal }, (err, data) => {
      // The cancellation (or anything else) failing a request nobody waits
      // for is not the app's failure: reply-from would log it, count it
      // through onError and try to answer a closed socket. Not calling back
      // is what reply-from itself does for a client gone before the answer.
      if (err !== null && left) return
      callback(err, data)
    })
  }

  /** Closes the idle connections; those in use close when their answer is done. */
  async close (): Promise<void> {
    await this.#agent.close()
  }
}

/**
 * The client's connection (HTTP/1) or stream (HTTP/2) is gone. Node's HTTP/2
 * compatibility response has no `destroyed` of its own, its stream has; and
 * its `writableFinished` turns true when the stream closes, however it
 * closed, so whether the answer was complete is read from `writableEnded`.
 */
function gone (client: ServerResponse): boolean {
  // Over HTTP/2 the response is an Http2ServerResponse (the gateway's Fastify is typed for HTTP/1).
  return client.destroyed || (client as { stream?: { destroyed: boolean } }).stream?.destroyed === true
}
