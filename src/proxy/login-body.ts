import { Readable } from 'node:stream'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { parse as parseContentType } from 'fast-content-type-parse'
import { errors } from '../errors.js'
import { identify, type RequestIdentity } from '../identity/index.js'
import { decodedBody } from '../identity/body-text.js'
import { kState } from './symbols.js'
import type { GatewayContext } from './context.js'
import { guardAttempt } from './login-guard.js'
import { bodyFollows, stopRequestBodyAfterAnswer } from './http2-request.js'

/**
 * preHandler: on a login route, read who is logging in.
 *
 * Only login requests are ever buffered, and only when the user is named in
 * the body; everything else streams through. The buffer is bounded by the
 * route's `maxBodyBytes` (413 beyond it) and its `bodyTimeout` (408 when a
 * client trickles): either way the request reaches nothing. The body goes
 * back on `request.body` for reply-from to forward (reading `request.raw` by
 * hand instead breaks the forwarded Content-Length: fastify/help#906).
 */
export function loginBody (ctx: GatewayContext) {
  const read = readLoginBody(ctx)
  // A callback hook: requests that are not logins (nearly all) pass without a promise.
  return function readLogin (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const state = request[kState]
    if (state?.login == null) { done(); return }
    // A request answered here (the login guard refused it) goes no further.
    read(request, reply).then((answered) => { if (!answered) done() }, done)
  }
}

function readLoginBody (ctx: GatewayContext) {
  /** Reads the user (and group) a login request names; true when the request was answered here. */
  return async function readLogin (request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const state = request[kState]
    const route = state?.login
    if (state == null || route === undefined) return false
    let body: Buffer | undefined
    let decoded: Buffer | undefined
    const fromRequest = [route.identity, route.group].filter((s): s is RequestIdentity => s?.phase === 'request')
    if (fromRequest.length === 0) return false
    if (fromRequest.some((s) => s.needsBody) && bodyFollows(request)) {
      let raw: Buffer
      try {
        raw = await readBounded(request, route.config.maxBodyBytes, route.config.bodyTimeout)
      } catch (err) {
        state.answered = true
        // The rest of the body may still be arriving: the client is told to stop sending it.
        stopRequestBodyAfterAnswer(request, reply)
        throw err
      }
      // The app must get the bytes exactly as the client sent them (a chunked
      // body handed back as a Buffer goes with its Content-Length). A Buffer is
      // cheapest to forward (one write, with its Content-Length: ~40 µs less
      // per login than a stream); reply-from sends it as it is, except that it
      // re-serialises JSON (JSON.stringify of a Buffer!) and throws on a
      // Content-Type it cannot parse: those go back as a stream of the same
      // bytes. (It also rewrites Content-Type to the bare media type;
      // forwardHeaders puts the client's back.)
      request.body = forwardsAsBuffer(request.headers) ? raw : Readable.from([raw])
      body = raw
      decoded = decodedBody(raw, request.headers, route.config.maxBodyBytes)
    }
    // A fragment is never sent by a browser (nor allowed in a request target,
    // RFC 9112 §3.2), and apps differ on it: Werkzeug, PHP and Node's URL read
    // the query only up to a '#', so `?username=bob#x` signs bob in. Read
    // whole it names "bob#x", a budget of its own; read up to it, a
    // `/login#?username=bob` would name bob where the app reads no query.
    if (request.url.includes('#')) {
      state.answered = true
      request.log.warn({ route: route.config.path }, 'refused a login with a "#" in its URL')
      throw new errors.LOGIN_BODY_MALFORMED('a "#" in its URL (apps read the query string up to it, or not at all)')
    }
    const q = request.url.indexOf('?')
    const req = { headers: request.headers, query: q === -1 ? '' : request.url.slice(q + 1), body, decodedBody: decoded }
    const found = identify(route.identity, req, route.config.caseInsensitive)
    if (found.kind === 'ambiguous') {
      state.answered = true
      request.log.warn({ route: route.config.path }, 'refused a login naming more than one user')
      throw new errors.LOGIN_USER_AMBIGUOUS()
    }
    if (found.kind === 'malformed') {
      state.answered = true
      request.log.warn({ route: route.config.path, why: found.why }, 'refused a login formed in a way apps read differently')
      throw new errors.LOGIN_BODY_MALFORMED(found.why)
    }
    if (found.kind === 'user') state.user = found.user
    if (route.group !== undefined) {
      const group = identify(route.group, req, false)
      if (group.kind === 'user') state.group = group.user
    }
    // The login guard judges the attempt before the app sees it: one that
    // names nobody the gateway can read is judged too, by its network's
    // counters (a name spelt as only the app reads it must not buy unlimited
    // guesses: docs/guard.md, "What counts").
    // (Returned, not awaited: with the memory store its answer comes without a promise, and an await would cost a turn.)
    // (Only where the user is read from the request: a route whose user comes
    // from the answer reads only its group here, and its logins are not attempts.)
    if (route.identity.phase !== 'request') return false
    return guardAttempt(ctx, request, reply, state, found.kind === 'user' ? found.user : undefined)
  }
}

/** Whether reply-from forwards a Buffer body of this request byte for byte (it JSON-encodes `application/json` again). */
function forwardsAsBuffer (headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type']
  if (type === undefined) return true
  try {
    return parseContentType(type).type !== 'application/json'
  } catch {
    return false
  }
}

async function readBounded (request: FastifyRequest, max: number, timeoutMs: number): Promise<Buffer> {
  const declared = request.headers['content-length']
  if (declared !== undefined && Number(declared) > max) throw new errors.LOGIN_BODY_TOO_LARGE(max)
  const stream = request.body as Readable | undefined
  if (stream === undefined || stream === null || typeof stream.on !== 'function') return Buffer.alloc(0)
  // Gone already (while the session was checked): its events are over, and
  // waiting for them would hold the request until bodyTimeout.
  if (stream.readableAborted) throw new Error('client aborted the login request')

  return await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => { finish(new errors.LOGIN_BODY_TIMEOUT()) }, timeoutMs)
    function finish (err?: Error): void {
      clearTimeout(timer)
      stream?.off('data', onData)
      stream?.off('end', onEnd)
      stream?.off('error', onError)
      stream?.off('aborted', onAbort)
      if (err !== undefined) {
        stream?.pause()
        reject(err)
      } else {
        resolve(Buffer.concat(chunks, size))
      }
    }
    function onData (chunk: Buffer): void {
      size += chunk.length
      if (size > max) finish(new errors.LOGIN_BODY_TOO_LARGE(max))
      else chunks.push(chunk)
    }
    function onEnd (): void { finish() }
    function onError (err: Error): void { finish(err) }
    function onAbort (): void { finish(new Error('client aborted the login request')) }
    stream.on('data', onData)
    stream.on('end', onEnd)
    stream.on('error', onError)
    stream.on('aborted', onAbort)
  })
}
