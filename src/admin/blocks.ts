import type { FastifyInstance } from 'fastify'
import { errors } from '../errors.js'
import { clientOf } from '../http/client.js'
import type { BlockInfo } from '../guard/index.js'
import type { AdminContext } from './context.js'

/** Most blocks one listing returns (the total is always given). */
const LIST_CAP = 1000

/**
 * The login guard's blocks (docs/guard.md): list them, lift a user's or a
 * network's. The store keeps keyed hashes only, never a name or an address,
 * so a listing shows hashes; `?user=NAME` or `?address=IP` finds the blocks
 * of one user or network by hashing it the way the guard does.
 */
export function registerBlockRoutes (app: FastifyInstance, ctx: AdminContext): void {
  const guardOf = (): NonNullable<AdminContext['guard']> => {
    if (ctx.guard === undefined) throw new errors.ADMIN_BAD_REQUEST('the login guard is off (guard: false): there are no blocks')
    return ctx.guard
  }

  app.get<{ Querystring: { limit?: string, user?: string, address?: string } }>('/blocks', async (request) => {
    const guard = guardOf()
    const limit = request.query.limit === undefined ? LIST_CAP : Number(request.query.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > LIST_CAP) throw new errors.ADMIN_BAD_REQUEST(`limit is a whole number from 1 to ${LIST_CAP}`)
    const { user, address } = request.query
    const users = user === undefined ? undefined : new Set([guard.userKeyOf(user, false), guard.userKeyOf(user, true)])
    const network = address === undefined ? undefined : guard.networkKeyOf(address)
    // Filtered here, from the whole list: the store lists by time, not by key.
    const all = await guard.blocks(ctx.now(), users === undefined && network === undefined ? limit : Number.MAX_SAFE_INTEGER)
    const wanted = all.blocks.filter((b) => (users === undefined || (b.user !== undefined && users.has(b.user))) && (network === undefined || b.network === network))
    return { blocks: wanted.slice(0, limit).map(view), total: users === undefined && network === undefined ? all.total : wanted.length }
  })

  app.delete<{ Params: { user: string } }>('/blocks/users/:user', async (request) => {
    const lifted = await guardOf().liftUser(request.params.user, ctx.now())
    return answerLifted(ctx, 'user', request.params.user, lifted, clientOf(request))
  })

  app.delete<{ Params: { cidr: string } }>('/blocks/networks/:cidr', async (request) => {
    const lifted = await guardOf().liftNetwork(request.params.cidr, ctx.now())
    return answerLifted(ctx, 'network', request.params.cidr, lifted, clientOf(request))
  })
}

function answerLifted (ctx: AdminContext, kind: 'user' | 'network', target: string, lifted: BlockInfo[], client: ReturnType<typeof clientOf>): { lifted: ReturnType<typeof view>[] } {
  if (lifted.length === 0) throw new errors.NOTHING_LIFTED(`no block of this ${kind} is active: nothing was lifted`)
  ctx.events.emit({ type: 'block_lifted', kind, target, lifted: lifted.length, client })
  ctx.log.info({ kind, lifted: lifted.length }, 'admin: login guard block lifted')
  return { lifted: lifted.map(view) }
}

function view (b: BlockInfo): { counter: BlockInfo['counter'], user?: string, network?: string, until: string, failures: number, times: number } {
  return { counter: b.counter, ...(b.user === undefined ? {} : { user: b.user }), ...(b.network === undefined ? {} : { network: b.network }), until: new Date(b.until).toISOString(), failures: b.failures, times: b.times }
}
