import type { FastifyRequest } from 'fastify'

/**
 * Whether the client reached the gateway over HTTPS: the gateway's own TLS
 * (`listen.tls`), or, behind a proxy `proxy.trustProxy` trusts, that proxy's
 * `X-Forwarded-Proto: https` (Fastify's `request.protocol` reads it only
 * from a trusted peer, so a client cannot claim it). The cookies the
 * gateway sets itself carry `Secure` then. Its redirects need nothing: they
 * are relative (`/.sessioncap/ended?…`), so a browser stays on the scheme
 * it used.
 */
export function overHttps (request: FastifyRequest): boolean {
  return request.protocol === 'https'
}
