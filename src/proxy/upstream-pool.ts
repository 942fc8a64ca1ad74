import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
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
    const watch = watchOf(client)
    // reply-from builds these options for this request alone: the signal goes in without a copy.
    ;(options as { signal?: EventEmitter }).signal = watch.signal
    this.#agent.request(options, (err, data) => {
      // The cancellation (or anything else) failing a request nobody waits
      // for is not the app's failure: reply-from would log it, count it
      // through onError and try to answer a closed socket. Not calling back
      // is what reply-from itself does for a client gone before the answer.
      if (err !== null && watch.left) return
      callback(err, data)
    })
  }

  /** Closes the idle connections; those in use close when their answer is done. */
  async close (): Promise<void> {
    await this.#agent.close()
  }
}

/** What tells the requests to the app for one client that the client left. */
interface ClientWatch {
  /** Emits `abort` when the client leaves. An EventEmitter, which undici accepts as a signal, costs less than an AbortController. */
  readonly signal: EventEmitter
  left: boolean
}

const kWatch = Symbol('sessioncap.upstreamWatch')

/**
 * The watch of a client's requests to the app. Over HTTP/1, one per
 * connection, made with its first request: the socket's `close` aborts every
 * request to the app still running for it (undici takes its abort listener
 * off the signal once its answer's body is done, so a finished one is not
 * touched), and a keep-alive connection's later requests add no listener of
 * their own. Over HTTP/2 (a stream per request), one per response: its
 * `close` means the client left only when the answer was unfinished (it
 * follows a complete answer too).
 */
function watchOf (client: ServerResponse): ClientWatch {
  // The watch rides on the socket under a symbol of its own (an optional
  // property: assignable as is). The request's socket: a pipelined request's
  // response has none of its own until the answers before it are done.
  const socket: (Socket & { [kWatch]?: ClientWatch }) | null = (client as { req?: { socket?: Socket | null } }).req?.socket ?? client.socket
  if (socket !== null && (client as { stream?: unknown }).stream === undefined) {
    let watch = socket[kWatch]
    if (watch === undefined) {
      const w: ClientWatch = { signal: new EventEmitter(), left: false }
      // Pipelined requests each listen while their request to the app runs.
      // A listener lives until its answer's body from the app is done (or the
      // socket closes): at most the requests the connection has open.
      w.signal.setMaxListeners(0)
      socket.once('close', () => {
        w.left = true
        w.signal.emit('abort')
      })
      socket[kWatch] = watch = w
    }
    return watch
  }
  const watch: ClientWatch = { signal: new EventEmitter(), left: false }
  client.once('close', () => {
    if (client.writableEnded) return
    watch.left = true
    watch.signal.emit('abort')
  })
  return watch
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
