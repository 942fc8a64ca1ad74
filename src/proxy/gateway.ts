import { Windows } from './identification.js'
import { identifyOverflow } from './identify-hooks.js'
import { presetAdvice } from '../config/presets.js'
import { accessLog } from './access-log.js'
import fastifyCookie from '@fastify/cookie'
import { METHODS } from 'node:http'
import Fastify, { LogController, type FastifyReply, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Config } from '../config/schema.js'
import { compileLimits } from '../domain/limits.js'
import { errors, isStoreUnavailable } from '../errors.js'
import { createSessionHasher, ephemeralSecret } from '../http/session-hash.js'
import { openStore } from '../store/index.js'
import type { SessionStore } from '../store/store.js'
import { createRateLimitedWarn, type GatewayContext } from './context.js'
import { SocketRegistry } from './socket-registry.js'
import { createAppClient } from './app-client.js'
import { createWhoami } from '../identity/index.js'
import { LRUCache } from 'lru-cache'
import { CookieScopes } from './cookie-scopes.js'
import { loginBody } from './login-body.js'
import { responseWatch } from './response-watch.js'
import { RouteTable } from './routes.js'
import { sessionCheck } from './session-check.js'
import { sendEnded } from './ended-answer.js'
import { kState } from './symbols.js'
import { registerUpstream } from './upstream.js'
import { logOptions, stdoutLog } from './log.js'
import { createPages, registerPages } from '../pages/index.js'
import { sessionMeta } from '../pages/device.js'
import { EventBus } from '../ops/events.js'
import { AuditTrail } from '../ops/audit.js'
import { Metrics, type HotCounters } from '../ops/metrics.js'
import { meteredStore } from '../ops/metered-store.js'
import { createAdminServer } from '../admin/server.js'
import { applyReload, type ReloadOutcome } from './reload.js'
import { LogoutReplays } from './upstream-logout.js'
import { openLoginGuard } from '../guard/index.js'
import { readCertificatePair } from '../listen/certificates.js'
import { alignHttp1Timeouts, keepUpgradeErrorsToTheirSocket, listenerOptions } from '../listen/server-options.js'
import { connectionControl, type ConnectionControl } from '../listen/connections.js'
import { ServedCertificate } from '../listen/served-certificate.js'
import { Readiness } from '../health/readiness.js'
import { refuseWhileStopping, registerProbes } from '../health/probes.js'
import { refuseWhatHttp1Refuses, withHttp2Body } from './http2-request.js'

// CONNECT opens a tunnel, which is not something to proxy to an app.
const EXTRA_METHODS = METHODS.filter((m) => m !== 'CONNECT')

export interface GatewayOptions {
  /** The clock, in ms since the epoch; tests move it instead of sleeping. */
  now?: () => number
  /** Where log lines go (a test's buffer, say); stdout otherwise. Level and redaction always come from the config. */
  logStream?: NodeJS.WritableStream
  /** A store built elsewhere; otherwise the one the config names. */
  store?: SessionStore
}

export interface Gateway {
  readonly app: FastifyInstance
  readonly store: SessionStore
  readonly context: GatewayContext
  /** The admin API's listener, if it runs (admin configured with a token). */
  readonly admin: FastifyInstance | undefined
  readonly audit: AuditTrail
  /** Starts listening (the admin API too); resolves to the proxy's address, e.g. `http://127.0.0.1:8080`. */
  listen (): Promise<string>
  /** The admin API's address once listening, e.g. `http://127.0.0.1:9090`. */
  adminAddress (): string | undefined
  /** Applies a new configuration to what can change without a restart; says what changed and what needs a restart. */
  reload (config: Config): ReloadOutcome
  /** `listen.tls`: reads the certificate files again (SIGHUP); says whether new connections now get another certificate. */
  reloadCertificates (trigger: string): boolean
  /** What `/readyz` answers; not ready from the moment `close` is called. */
  readonly readiness: Readiness
  /** The open connections of both listeners, for a graceful stop (cli/shutdown.ts). */
  readonly connections: ConnectionControl
  /** Stops: not ready at once, then the proxied port (requests in flight finish), then the admin API, the audit trail, the store. */
  close (): Promise<void>
}

/** Builds the gateway: Fastify, the store, and the hooks, in the one order that works (see below). */
export async function createGateway (config: Config, opts: GatewayOptions = {}): Promise<Gateway> {
  // Read before anything starts: a certificate that cannot be used stops the start (run.ts points at the key).
  const certificate = config.listen.tls === undefined ? undefined : readCertificatePair(config.listen.tls)
  const fastifyOptions: FastifyServerOptions = {
    trustProxy: config.proxy.trustProxy,
    // Per-request log lines cost more than the proxying itself; off unless asked for.
    logController: new LogController({ disableRequestLogging: !config.log.requests }),
    // While stopping, refuseWhileStopping answers 503 instead, so the probes can still say why.
    return503OnClosing: false,
    // No request-wide timeout: a 100 MB upload may take long. Login bodies have their own.
    requestTimeout: 0,
    // Case-insensitive routes: the only routes with a path of their own are the
    // pages (the proxy takes every path), and `/.SessionCap/sessions` must reach
    // them as `/.sessioncap/sessions` does, and be seen as a page by the session
    // check (which knows pages by their route), not go to the app.
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, caseSensitive: false },
    // A URL Fastify cannot even route (e.g. a broken %-escape): the same short
    // plain answer as every other refusal, instead of Fastify's JSON.
    frameworkErrors: (_err, _request, reply) => {
      const bad = new errors.BAD_REQUEST_PATH()
      // Fastify types this reply generically; it is an ordinary reply.
      void (reply as FastifyReply).code(400).type('text/plain; charset=utf-8').send(`${bad.message} (${bad.code})\n`)
    }
  }
  const stdout = opts.logStream === undefined ? stdoutLog() : undefined
  fastifyOptions.logger = logOptions(config, opts.logStream ?? stdout?.stream)
  // Without request logging, a child logger per request (for its reqId) costs
  // more than the few session lines it would label: they use the root logger.
  if (!config.log.requests) fastifyOptions.childLoggerFactory = (logger) => logger
  // HTTPS or HTTP/2 (listen.tls, listen.http2). Fastify types its instance by
  // the server it builds; the gateway keeps the HTTP/1 types throughout: Node's
  // HTTP/2 compatibility API (Http2ServerRequest/Response) offers what the
  // hooks use, and where HTTP/2 differs, proxy/http2-request.ts says so.
  const app = Fastify({ ...fastifyOptions, ...listenerOptions(config.listen, certificate) } as FastifyServerOptions)
  if (config.listen.http2) alignHttp1Timeouts(app.server)
  keepUpgradeErrorsToTheirSocket(app.server)
  const appConnections = connectionControl(app.server)
  const connections = [appConnections]
  // "All methods": WebDAV and the other methods Node parses, not only Fastify's defaults.
  for (const method of EXTRA_METHODS) {
    if (!app.supportedMethods.includes(method)) app.addHttpMethod(method, { hasBody: true })
  }
  // HTTP/2 carries methods and path bytes HTTP/1.1's parser never lets through: refused before Fastify.
  if (config.listen.http2) refuseWhatHttp1Refuses(app.server, app.supportedMethods)
  // Only for its Set-Cookie serializer; requests' cookies are read by
  // http/cookies.ts, which keeps every duplicate value (hook: false).
  await app.register(fastifyCookie, { hook: false })

  const now = opts.now ?? Date.now
  const sockets = new SocketRegistry()
  const storeEvents = {
    // Another gateway ended sessions (Redis): their WebSockets open here close too.
    endedElsewhere: (ids: string[]) => { sockets.closeSessions(ids) },
    warn: (message: string, details?: Record<string, unknown>) => { app.log.warn(details ?? {}, message) },
    error: (message: string, details?: Record<string, unknown>) => { app.log.error(details ?? {}, message) },
    info: (message: string, details?: Record<string, unknown>) => { app.log.info(details ?? {}, message) }
  }
  const opened = opts.store !== undefined
    ? { store: opts.store, shutdown: async () => { await opts.store?.close() } }
    : await openStore(config, storeEvents, now)
  const rawStore = opened.store
  const events = new EventBus((err) => { app.log.error({ err }, 'an event listener failed') })
  const audit = new AuditTrail(config, { warn: (d, m) => { app.log.warn(d, m) }, info: (d, m) => { app.log.info(d, m) } }, now)
  if (audit.enabled) events.add(audit)
  const counters: HotCounters = { proxied: 0, upstreamErrors: 0 }
  const adminToken = config.admin?.token
  if (config.admin !== undefined && (adminToken === undefined || adminToken === '')) {
    app.log.warn({ admin: `${config.admin.host}:${config.admin.port}` }, 'the admin API is not started: admin.token is not set (e.g. token: ${SESSIONCAP_ADMIN_TOKEN} with that variable set)')
  }
  for (const advice of presetAdvice(config)) app.log.warn({ preset: config.preset }, advice)
  // The metrics are served by the admin API only; without it nothing is measured (the hot path stays bare).
  const metrics = adminToken === undefined || adminToken === ''
    ? undefined
    : new Metrics({ counters, stats: async () => await rawStore.stats(now()), webhook: audit.webhookStats, auditFile: audit.fileStats, maxEnded: config.store.maxEnded })
  if (metrics !== undefined) events.add(metrics)
  const store = metrics === undefined ? rawStore : meteredStore(rawStore, metrics.storeSeconds, metrics.storeErrors)
  const readiness = new Readiness(store, () => ctx.config.store.onError)
  const served = config.listen.tls === undefined || certificate === undefined ? undefined : new ServedCertificate(config.listen.tls, certificate, app.server, app.log)
  const secret = config.secret ?? ephemeralSecret()
  if (config.secret === undefined) {
    app.log.info('no secret configured: session hashes use a key made for this run (fine for the memory store, which forgets everything on restart anyway)')
  }

  // The login guard, on the store type the sessions use (guard: false: none).
  const guard = await openLoginGuard(config, [secret], { warn: storeEvents.warn, error: storeEvents.error })

  // The gateway asking the app itself (whoami), the way it forwards requests.
  const ask = createAppClient(config.upstream)
  const ctx: GatewayContext = {
    config,
    store,
    hash: createSessionHasher(secret),
    limitFor: compileLimits(config),
    routes: new RouteTable(config.login.routes, config.logout, ask),
    scopes: new CookieScopes([config.session.cookie, ...config.session.alsoClear], app.serializeCookie.bind(app)),
    sockets,
    now,
    log: app.log,
    warnEveryMinute: createRateLimitedWarn(app.log, now),
    whoami: config.whoami === undefined ? undefined : createWhoami(config.whoami, ask),
    anonymous: new LRUCache<string, number>({ max: 100_000 }),
    // At the bound, the oldest window's question is asked at once (docs/login.md).
    awaiting: new Windows((w) => { identifyOverflow(ctx, w) }),
    decidingPolicy: config.policy === 'ask' ? config.ask.fallback : config.policy,
    meta: (request) => sessionMeta(request.headers['user-agent'], request.ip, config.pages.ip),
    pages: createPages(config, secret),
    events,
    counters,
    logoutReplays: new LogoutReplays(config.upstream),
    guard,
    serializeCookie: app.serializeCookie.bind(app),
    holderOf: (request) => {
      const state = request[kState]
      if (state == null) return undefined
      state.answered = true
      return state.holder
    },
    answerEnded: (request, reply, reason) => sendEnded(ctx, request, reply, reason)
  }

  app.decorateRequest(kState, null)
  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, request, reply) => {
    const state = request[kState]
    if (state != null) state.answered = true
    // The client went away before its answer (say, while its login was being
    // recorded): the app's answer, cancelled for it, fails on the way out. That
    // failed for nobody and is no fault of the gateway's; there is no one to answer.
    if (reply.raw.destroyed && !reply.raw.writableFinished) {
      request.log.debug({ err }, 'the client went away before its answer')
      return
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
    // A store outage is logged once by the store, not once per refused request.
    if (status >= 500 && !isStoreUnavailable(err)) request.log.error({ err }, 'request failed')
    // A path http-proxy refuses to forward (e.g. one that climbs out with ..).
    const known = err.code?.startsWith('SESSIONCAP_ERR_') === true ? err : status === 400 ? new errors.BAD_REQUEST_PATH() : undefined
    const text = known !== undefined ? `${known.message} (${String(known.code)})` : 'internal error'
    void reply.code(status).type('text/plain; charset=utf-8').send(`${text}\n`)
  })

  // The order of the hooks is the design:
  // 0. onRequest: while stopping, 503 to all but the probes (nothing else runs).
  // 1. onRequest: refuse ended sessions before anything else is spent on the
  //    request (no body read, no upstream connection); runs on WS upgrades too.
  // 2. preHandler (proxy routes only): read a login's user from its bounded body
  //    (an HTTP/2 body without Content-Length kept first: http2-request.ts).
  // 3. reply-from forwards the request and copies the app's answer headers.
  // 4. onSend: the app's Set-Cookie headers decide logins, rotations and logouts,
  //    before the first byte goes to the client.
  app.addHook('onRequest', refuseWhileStopping(readiness))
  app.addHook('onRequest', sessionCheck(ctx))
  app.addHook('onSend', responseWatch(ctx))
  // 5. onResponse (log.access): one line per request, once answered.
  if (config.log.access) app.addHook('onResponse', accessLog(ctx))
  if (config.pages.health) registerProbes(app, readiness, config.pages.prefix)
  await registerPages(app, ctx)
  await registerUpstream(app, ctx, withHttp2Body(loginBody(ctx)))
  await app.ready()
  const admin = metrics === undefined ? undefined : await createAdminServer(ctx, { token: adminToken as string, metrics, readiness })
  if (admin !== undefined) connections.push(connectionControl(admin.server))
  let adminAddress: string | undefined

  return {
    app,
    store: rawStore,
    context: ctx,
    admin,
    audit,
    async listen () {
      const address = await listenOn(app, config.listen.host, config.listen.port)
      if (admin !== undefined && config.admin !== undefined) {
        try {
          adminAddress = await listenOn(admin, config.admin.host, config.admin.port)
        } catch (err) {
          await app.close()
          throw err
        }
        app.log.info({ address: adminAddress }, 'the admin API is listening')
      }
      return address
    },
    adminAddress: () => adminAddress,
    reload: (next) => applyReload(ctx, audit, next, ask),
    reloadCertificates: (trigger) => served?.reload(trigger) ?? false,
    readiness,
    connections: {
      closeIdle: () => { for (const c of connections) c.closeIdle() },
      closeAll: () => { for (const c of connections) c.closeAll() }
    },
    async close () {
      readiness.stop()
      // HTTP/2 sessions get a GOAWAY now: Node (before 24) would wait for them to end by themselves.
      appConnections.closeIdle()
      // The proxied port stops accepting at once and finishes what it is
      // answering; the admin API stays up meanwhile, so /readyz can tell a
      // load balancer "shutdown" until the last request is answered.
      await app.close()
      await admin?.close()
      await audit.close()
      await guard?.close()
      await opened.shutdown()
      stdout?.flush()
    }
  }
}

async function listenOn (server: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await server.listen({ host, port })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new errors.LISTEN_FAILED(host, port, e.code === 'EADDRINUSE' ? 'the port is already in use' : e.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : e.message)
  }
}
