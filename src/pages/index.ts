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
}

export function createPages (config: Config, secret: string | Buffer): Pages {
  const signer = createSigner(secret)
  const firstLogin = config.login.routes[0]?.path
  return {
    links: createPageLinks(config.pages.prefix, config.ended.redirect, signer),
    signer,
    templates: new PageTemplates(config.pages.templates, { accent: config.pages.accent }),
    signIn: config.pages.signIn ?? firstLogin ?? '/'
  }
}
