import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/schema.js'
import type { LimitFor } from '../domain/limits.js'
import type { EndReason } from '../domain/session.js'
import type { Holder, SessionsContext } from '../sessions/context.js'
import type { Pages } from './index.js'

/**
 * What the pages need of the gateway, declared here so that the pages depend
 * on no module of the proxy: the gateway hands its context in, which has all
 * of it (and the proxy may import the pages, never the other way round).
 */
export interface PagesContext extends SessionsContext {
  readonly config: Config
  readonly pages: Pages
  readonly limitFor: LimitFor
  /** Set-Cookie headers that remove the session cookie (and `alsoClear`), with the scope the app uses (and `Secure` over HTTPS). */
  readonly scopes: { clearAll: (secure: boolean) => string[] }
  /** The tracked session the request is made with, as the session check found it; the page then answers the request itself. */
  readonly holderOf: (request: FastifyRequest) => Holder | undefined
  /** Answers a request whose session ended, as the gateway does everywhere: the signed-out page for browsers, 401 for others. */
  readonly answerEnded: (request: FastifyRequest, reply: FastifyReply, reason: EndReason) => FastifyReply
}
