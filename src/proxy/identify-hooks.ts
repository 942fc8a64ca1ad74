import type { FastifyRequest } from 'fastify'
import { clientOf } from '../http/client.js'
import type { Whoami } from '../identity/index.js'
import { admitSession } from '../sessions/actions.js'
import type { GatewayContext } from './context.js'
import { shortId } from './context.js'
import { identify, type Admit, type IdentificationWindow, type IdentifyDeps, type Presentation } from './identification.js'
import { whoamiContext } from './upstream.js'

/**
 * The gateway's side of identification.ts: what a question is asked with,
 * and how someone it finds is admitted when no answer is at hand to replace
 * (a request waiting for the question, or a window pushed out at the bound).
 */

/** The browser as a request presents it, with `cookieHeader` as the session's cookies. */
export function presentationOf (ctx: GatewayContext, request: FastifyRequest, cookieHeader: string): Presentation {
  return { context: whoamiContext(ctx, request, cookieHeader), meta: ctx.meta(request), client: clientOf(request) }
}

export function identifyDeps (ctx: GatewayContext): IdentifyDeps {
  return { whoami: ctx.whoami as Whoami, store: ctx.store, anonymous: ctx.anonymous, windows: ctx.awaiting, now: ctx.now }
}

/**
 * Admits someone a question found, at once, under the deciding policy (no
 * answer to show the chooser in); a rotated session's owner signing someone
 * else in on that device replaces it.
 */
export function admitNow (ctx: GatewayContext, w: IdentificationWindow, presentation: Presentation): Admit {
  return async (user, group, id, via) => {
    const result = await admitSession(ctx, {
      user, id, now: ctx.now(), limit: ctx.limitFor(user, { group }), policy: ctx.decidingPolicy,
      replaces: w.rotationOf === undefined ? [] : [w.rotationOf.key], group, meta: presentation.meta
    }, via, presentation.client)
    if (!result.admitted) {
      ctx.log.info({ user, session: shortId(id), via }, 'session identified: over the limit, ended')
      return 'ended'
    }
    ctx.log.info({ user, group, session: shortId(id), via, ended: result.ended.map((r) => shortId(r.id)) }, 'session identified: admitted')
    return result.pending === true ? 'pending' : 'live'
  }
}

/** A window pushed out at the bound: its question is asked now, with the presentation it kept. */
export function identifyOverflow (ctx: GatewayContext, w: IdentificationWindow): void {
  const id = w.ids[w.ids.length - 1]
  if (id === undefined || ctx.whoami === undefined) return
  identify(identifyDeps(ctx), w, id, w.presentation.context, admitNow(ctx, w, w.presentation))
    .then((verdict) => { if (verdict === undefined) ctx.awaiting.unasked(w) })
    .catch((err: unknown) => {
      ctx.awaiting.unasked(w)
      ctx.log.warn({ err, session: shortId(id) }, 'could not identify a session pushed out of the windows awaiting their question: asked again when it comes back')
    })
}
