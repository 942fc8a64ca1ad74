import type { Config } from '../config/schema.js'
import { createPageLinks, type PageLinks } from './links.js'
import { createSigner, type Signer } from './signer.js'
import { PageTemplates } from './templates.js'

export { registerPages } from './routes.js'

/** The gateway's own pages, built once: their links, the signer of their tokens, their templates. */
export interface Pages {
  readonly links: PageLinks
  readonly signer: Signer
  readonly templates: PageTemplates
  /** Where "Sign in" leads: `pages.signIn`, else the first login route's path, else /. */
  readonly signIn: string
  /**
   * The headers of every page: never cached, never framed, one inline
   * stylesheet (by hash) and nothing else, forms posting only to the pages
   * (and `ended.redirect`).
   */
  readonly headers: Readonly<Record<string, string>>
}

export function createPages (config: Config, secret: string | Buffer): Pages {
  const signer = createSigner(secret)
  const firstLogin = config.login.routes[0]?.path
  const templates = new PageTemplates(config.pages.templates, { accent: config.pages.accent })
  const formAction = ["'self'"]
  const redirect = config.ended.redirect
  // After "cancel", the form's answer sends the browser to `ended.redirect`, which form-action must allow.
  if (redirect !== undefined && /^https?:/.test(redirect)) formAction.push(new URL(redirect).origin)
  return {
    links: createPageLinks(config.pages.prefix, config.ended.redirect, signer),
    signer,
    templates,
    signIn: config.pages.signIn ?? firstLogin ?? '/',
    headers: {
      'cache-control': 'no-store',
      'content-security-policy': `default-src 'none'; style-src ${templates.styleHash}; img-src 'self' data:; form-action ${formAction.join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cross-origin-opener-policy': 'same-origin'
    }
  }
}
