import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import { errors, isStoreUnavailable } from '../errors.js'
import type { Metrics } from '../ops/metrics.js'
import type { AdminContext } from './context.js'
import { clientOf } from '../http/client.js'
import { bearerMatches } from './auth.js'
import { registerBlockRoutes } from './blocks.js'
import { allSessions, endSession, endUserSessions, overLimit, sweep, userSessions } from './operations.js'
import type { Readiness } from '../health/readiness.js'
import { isProbe, refuseWhileStopping, registerProbes } from '../health/probes.js'

/** The code of the answer to a path that is no call. */
const ADMIN_NOT_FOUND_CODE = new errors.ADMIN_NOT_FOUND('no such call').code
/** Most users one over-limit listing returns (a sweep has no such cap). */
const LIST_CAP = 1000

export interface AdminOptions {
  token: string
  metrics: Metrics
  readiness: Readiness
}

/**
 * The admin API: a listener of its own (never the proxied port), every call
 * behind the bearer token but the probes (/healthz, /readyz), which tell
 * nothing but ok or not, so a load balancer or Kubernetes can ask them
 * without a secret. Answers are JSON, except /metrics (Prometheus text). A
 * call that ends sessions answers what it actually ended; one that found
 * nothing to end is a 404, never a success. While the gateway stops, the
 * probes answer and every other call gets 503.
 */
export async function createAdminServer (ctx: AdminContext, opts: AdminOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, return503OnClosing: false })

  app.addHook('onRequest', refuseWhileStopping(opts.readiness))
  app.addHook('onRequest', async (request, reply) => {
    if (isProbe(request)) return
    if (!bearerMatches(request.headers.authorization, opts.token)) {
      ctx.log.warn({ ip: request.ip, url: request.url.slice(0, 200) }, 'admin API: call without a valid token refused')
      return await fail(reply.header('www-authenticate', 'Bearer'), new errors.ADMIN_UNAUTHORIZED())
    }
  })
  app.setErrorHandler(async (err: Error & { statusCode?: number, code?: string }, _request, reply) => {
    if (isStoreUnavailable(err)) return await fail(reply, new errors.STORE_UNAVAILABLE())
    if (err.code?.startsWith('SESSIONCAP_ERR_') === true) return await fail(reply, err)
    if (err.statusCode !== undefined && err.statusCode < 500) {
      // Fastify's own refusals (a body too large, a wrong content type…): their status, our shape.
      return await reply.code(err.statusCode).send({ error: err.message, code: 'SESSIONCAP_ERR_ADMIN_BAD_REQUEST' })
    }
    ctx.log.error({ err }, 'admin API call failed')
    return await reply.code(500).send({ error: 'internal error' })
  })
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ error: 'no such call', code: ADMIN_NOT_FOUND_CODE }))

  registerProbes(app, opts.readiness)

  app.get('/metrics', async (_request, reply) => {
    return await reply.type('text/plain; version=0.0.4; charset=utf-8').send(await opts.metrics.text())
  })

  app.get<{ Params: { user: string } }>('/users/:user/sessions', async (request) => {
    const { user } = request.params
    const scopes = await userSessions(ctx, user)
    return { user, scopes }
  })

  app.get<{ Querystring: { 'over-limit'?: string, max?: string, offset?: string, limit?: string } }>('/sessions', async (request) => {
    if (request.query['over-limit'] === 'true') {
      const max = optionalCount(request.query.max, 'max', 1)
      return await overLimit(ctx, max, LIST_CAP)
    }
    // Everyone's sessions, a page of users at a time.
    const offset = optionalCount(request.query.offset, 'offset') ?? 0
    const limit = Math.min(optionalCount(request.query.limit, 'limit', 1) ?? 100, LIST_CAP)
    return await allSessions(ctx, offset, limit)
  })

  app.delete<{ Params: { id: string } }>('/sessions/:id', async (request) => {
    const ended = await endSession(ctx, request.params.id, clientOf(request))
    if (ended.length === 0) throw new errors.NOTHING_ENDED('no live session has this id (unknown, or already ended): nothing was ended')
    ctx.log.info({ sessions: ended.map((s) => s.id.slice(0, 10)) }, 'admin: session ended')
    return { ended }
  })

  app.delete<{ Params: { user: string }, Querystring: { keep?: string } }>('/users/:user/sessions', async (request) => {
    const keep = optionalCount(request.query.keep, 'keep') ?? 0
    const ended = await endUserSessions(ctx, request.params.user, keep, clientOf(request))
    if (ended.length === 0) throw new errors.NOTHING_ENDED(`${request.params.user} has no session${keep > 0 ? ` beyond the newest ${keep}` : ''} to end: nothing was ended`)
    ctx.log.info({ user: request.params.user, keep, ended: ended.length }, 'admin: user\'s sessions ended')
    return { user: request.params.user, kept: keep, ended }
  })

  registerBlockRoutes(app, ctx)

  app.post<{ Body: { max?: unknown, dryRun?: unknown } | undefined }>('/sweep', async (request) => {
    const body = request.body ?? {}
    if (typeof body !== 'object' || Array.isArray(body)) throw new errors.ADMIN_BAD_REQUEST('the body is a JSON object such as { "max": 1 }')
    const max = body.max === undefined ? undefined : optionalCount(body.max, 'max', 1)
    if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw new errors.ADMIN_BAD_REQUEST('dryRun is true or false')
    const result = await sweep(ctx, max, body.dryRun === true, clientOf(request))
    ctx.log.info({ max, dryRun: result.dryRun, users: result.users.length, ended: result.ended }, result.dryRun ? 'admin: sweep (dry run)' : 'admin: sweep')
    return result
  })

  return app
}

async function fail (reply: FastifyReply, err: Error & { statusCode?: number, code?: string }): Promise<FastifyReply> {
  return await reply.code(err.statusCode ?? 500).send({ error: err.message, code: err.code })
}

function optionalCount (value: unknown, name: string, min = 0): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : NaN
  if (!Number.isInteger(n) || n < min) throw new errors.ADMIN_BAD_REQUEST(`${name} is a whole number of sessions (${min} or more)${min > 0 ? '; 0 would mean no limit, so nothing would be over it' : ''}`)
  return n
}
