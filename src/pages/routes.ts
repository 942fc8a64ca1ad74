import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ownerParts } from '../domain/limits.js'
import type { EndedBy, SessionRecord } from '../domain/session.js'
import { shortId } from '../domain/session.js'
import { clientOf } from '../http/client.js'
import type { Holder } from '../sessions/context.js'
import { endSessions, settleSession } from '../sessions/actions.js'
import type { PagesContext } from './context.js'
import type { SessionStore } from '../store/store.js'
import { endChosen } from './choices.js'
import { safeNext } from './links.js'
import { overHttps } from '../http/scheme.js'
import type { PageName, View } from './templates.js'
import { endedWording, fallbackText, sessionRows, spell, utc } from './views.js'

/** A page's form is a few hundred bytes; anything much larger is not one. */
const FORM_BODY_LIMIT = 16 * 1024
/** Rows a page lists (a user without a limit may have thousands of sessions); "sign out everywhere else" still ends them all. */
const MAX_ROWS = 100

type Form = URLSearchParams
type Query = Record<string, string | undefined>

/**
 * The gateway's own pages, under `pages.prefix`:
 * - `choose`: a session over the limit under policy ask picks what to end;
 * - `sessions`: a signed-in user sees and ends their other sessions (`pages.sessions`);
 * - `ended`: the signed-out page, saying why (from a signed note in its URL).
 * Everything else under the prefix is a 404 here: the app never sees the prefix.
 *
 * Plain server-rendered forms, no script. Every form that changes something
 * carries a CSRF token bound to the session, and can only end sessions of
 * that session's user. Pages are never cached, may not be framed, and allow
 * one inline stylesheet (by hash) and nothing else.
 */
export async function registerPages (app: FastifyInstance, ctx: PagesContext): Promise<void> {
  const { prefix } = ctx.config.pages
  const { templates, links, signer } = ctx.pages
  const securityHeaders = ctx.pages.headers

  const page = (reply: FastifyReply, status: number, name: PageName, view: View & { heading: string }): FastifyReply =>
    reply.code(status).headers(securityHeaders).type('text/html; charset=utf-8').send(templates.render(name, { ...view, title: ctx.config.pages.title }))
  const redirectTo = (reply: FastifyReply, location: string): FastifyReply =>
    reply.code(303).headers({ ...securityHeaders, location }).type('text/plain; charset=utf-8').send(`See ${location}\n`)

  /** Ending sessions a user picked: through the gateway's actions (WebSockets closed, audit trail). */
  const userEnds = (request: FastifyRequest): Pick<SessionStore, 'sessionsOf' | 'end'> => ({
    sessionsOf: async (owner, now) => await ctx.store.sessionsOf(owner, now),
    end: async (ids, reason, _now, by) => await endSessions(ctx, ids, reason, { client: clientOf(request), by })
  })

  const holderOf = ctx.holderOf
  const limitOf = (holder: Holder): number => {
    const { user, scope } = ownerParts(holder.owner)
    return ctx.limitFor(user, { scope, group: holder.group })
  }
  const byOf = (records: readonly SessionRecord[], holder: Holder, now: number): EndedBy => {
    const me = records.find((r) => r.id === holder.slot)
    const by: EndedBy = { at: now }
    if (me?.device !== undefined) by.device = me.device
    if (me?.ip !== undefined) by.ip = me.ip
    return by
  }
  /** A form posted from another site (the browser says so): refused before anything else. */
  const crossSite = (request: FastifyRequest): boolean => request.headers['sec-fetch-site'] === 'cross-site'

  const chooserView = async (holder: Holder, next: string | undefined, message?: string): Promise<View & { heading: string }> => {
    const now = ctx.now()
    const records = await ctx.store.sessionsOf(holder.owner, now)
    const limit = limitOf(holder)
    const others = records.filter((r) => r.id !== holder.slot).length
    return {
      heading: 'Too many devices signed in',
      limitText: count(limit, 'device'),
      othersText: count(others, 'other device'),
      sessions: sessionRows(records, holder.slot, now).slice(0, MAX_ROWS),
      csrf: signer.csrfToken(holder.slot),
      next: next ?? '',
      action: `${prefix}choose`,
      message,
      timeout: spell(ctx.config.ask.timeout),
      fallbackText: fallbackText(ctx.config.ask.fallback)
    }
  }

  const sessionsView = async (holder: Holder | undefined, notes: { message?: string, error?: string }): Promise<View & { heading: string }> => {
    if (holder === undefined) return { heading: 'Your sessions', signedIn: false, signIn: ctx.pages.signIn }
    const now = ctx.now()
    const records = await ctx.store.sessionsOf(holder.owner, now)
    return {
      heading: 'Your sessions',
      signedIn: true,
      sessions: sessionRows(records, holder.slot, now).slice(0, MAX_ROWS),
      others: records.some((r) => r.id !== holder.slot),
      csrf: signer.csrfToken(holder.slot),
      action: `${prefix}sessions`,
      ...notes
    }
  }

  await app.register(async function pagesContext (scope) {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_req, body, done) => {
      done(null, new URLSearchParams(String(body)))
    })
    const config = { sessioncapPage: 'page' as const }

    scope.get<{ Querystring: Query }>(`${prefix}choose`, { config }, async (request, reply) => {
      const holder = holderOf(request)
      const next = safeNext(request.query.next)
      if (holder?.pendingUntil === undefined) return redirectTo(reply, next ?? '/')
      // Room may have freed up since the login (another device signed out):
      // then there is nothing to choose, and the session goes on at once.
      const settled = await settleSession(ctx, holder.slot, holder.owner, 'ask', limitOf(holder), clientOf(request))
      if (settled.state === 'live') return redirectTo(reply, next ?? '/')
      return page(reply, 200, 'choose', await chooserView(holder, next))
    })

    scope.post<{ Body: Form | undefined }>(`${prefix}choose`, { config }, async (request, reply) => {
      const holder = holderOf(request)
      const form = request.body ?? new URLSearchParams()
      const next = safeNext(form.get('next'))
      if (holder?.pendingUntil === undefined) return redirectTo(reply, next ?? '/')
      if (crossSite(request) || !signer.csrfValid(holder.slot, form.get('csrf'))) {
        request.log.warn({ session: shortId(holder.slot) }, 'chooser: a form without this session\'s token was refused')
        return page(reply, 403, 'choose', await chooserView(holder, next, 'This form has expired. Nothing was signed out; please choose again.'))
      }
      const now = ctx.now()
      const action = form.get('action')
      const { user } = ownerParts(holder.owner)
      if (action === 'cancel') {
        await endSessions(ctx, [holder.slot], 'login_cancelled', { client: clientOf(request) })
        request.log.info({ user, session: shortId(holder.slot) }, 'chooser: sign-in cancelled')
        void reply.header('set-cookie', ctx.scopes.clearAll(overHttps(request)))
        return redirectTo(reply, links.ended('login_cancelled', undefined))
      }
      if (action !== 'end' && action !== 'end-others') return page(reply, 400, 'choose', await chooserView(holder, next, 'Choose what to sign out, or cancel this sign-in.'))
      const handles = action === 'end-others' ? 'all-others' as const : new Set(form.getAll('end'))
      if (handles !== 'all-others' && handles.size === 0) {
        return page(reply, 422, 'choose', await chooserView(holder, next, 'Select at least one session to sign out, or sign out all other devices.'))
      }
      const records = await ctx.store.sessionsOf(holder.owner, now)
      const { ended } = await endChosen(userEnds(request), holder.owner, { handles, current: holder.slot, by: byOf(records, holder, now), now })
      const settled = await settleSession(ctx, holder.slot, holder.owner, 'ask', limitOf(holder), clientOf(request))
      request.log.info({ user, session: shortId(holder.slot), ended: ended.map((r) => shortId(r.id)), state: settled.state }, 'chooser: the user ended sessions')
      if (settled.state === 'live') return redirectTo(reply, next ?? '/')
      if (settled.state === 'pending') {
        return page(reply, 200, 'choose', await chooserView(holder, next, 'This account is still signed in on too many devices. Select more to sign out.'))
      }
      if (settled.state === 'ended') return ctx.answerEnded(request, reply, 'concurrent_login_limit')
      return redirectTo(reply, next ?? '/')
    })

    if (ctx.config.pages.sessions) {
      scope.get<{ Querystring: Query }>(`${prefix}sessions`, { config }, async (request, reply) => {
        const holder = holderOf(request)
        if (holder?.pendingUntil !== undefined) return redirectTo(reply, links.chooser(`${prefix}sessions`))
        const done = Number(request.query.done)
        const notes = {
          message: Number.isInteger(done) && done > 0 ? `Signed out ${count(done, 'session')}.` : undefined,
          error: request.query.gone !== undefined ? 'That session had already ended, or is not one of yours. Nothing was signed out.' : undefined
        }
        return page(reply, 200, 'sessions', await sessionsView(holder, notes))
      })

      scope.post<{ Body: Form | undefined }>(`${prefix}sessions`, { config }, async (request, reply) => {
        const holder = holderOf(request)
        const form = request.body ?? new URLSearchParams()
        if (holder === undefined) return page(reply, 200, 'sessions', await sessionsView(undefined, {}))
        if (holder.pendingUntil !== undefined) return redirectTo(reply, links.chooser(`${prefix}sessions`))
        if (crossSite(request) || !signer.csrfValid(holder.slot, form.get('csrf'))) {
          request.log.warn({ session: shortId(holder.slot) }, 'sessions page: a form without this session\'s token was refused')
          return page(reply, 403, 'sessions', await sessionsView(holder, { error: 'This form has expired. Nothing was signed out; please try again.' }))
        }
        const now = ctx.now()
        const handles = form.get('action') === 'end-others' ? 'all-others' as const : new Set(form.getAll('end'))
        if (handles !== 'all-others' && handles.size === 0) return redirectTo(reply, `${prefix}sessions`)
        const records = await ctx.store.sessionsOf(holder.owner, now)
        const { ended, unmatched } = await endChosen(userEnds(request), holder.owner, { handles, current: holder.slot, by: byOf(records, holder, now), now })
        request.log.info({ user: ownerParts(holder.owner).user, session: shortId(holder.slot), ended: ended.map((r) => shortId(r.id)), unmatched }, 'sessions page: the user ended sessions')
        return redirectTo(reply, unmatched > 0 && ended.length === 0 ? `${prefix}sessions?gone=1` : `${prefix}sessions?done=${ended.length}`)
      })
    }

    scope.get<{ Querystring: Query }>(`${prefix}ended`, { config: { sessioncapPage: 'ended' } }, async (request, reply) => {
      holderOf(request)
      const note = links.readEndedNote(request.query.n)
      const wording = endedWording(note?.reason, note?.by)
      const by = note?.by === undefined ? undefined : { device: note.by.device, ip: note.by.ip, at: utc(note.by.at), atIso: new Date(note.by.at).toISOString() }
      return page(reply, 200, 'ended', { ...wording, by, signIn: ctx.pages.signIn })
    })

    // The prefix is the gateway's: nothing under it goes to the app.
    scope.all(`${prefix}*`, { config }, async (request, reply) => {
      holderOf(request)
      return await reply.code(404).headers(securityHeaders).type('text/plain; charset=utf-8').send('Not found\n')
    })
  })
}

function count (n: number, thing: string): string {
  return `${n} ${thing}${n === 1 ? '' : 's'}`
}
