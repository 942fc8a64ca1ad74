import type { WhoamiConfig } from '../config/schema.js'
import { normalizeUser } from '../domain/user.js'
import { bodyText } from './body-text.js'
import type { AnswerIdentity, Found, LoginAnswer } from './identity.js'
import { parsePointer, resolvePointer } from './json.js'

/** What the browser sent that whoami passes on (the app may check them, e.g. a session bound to the User-Agent). */
export interface AskContext {
  cookieHeader: string
  /** The request's Host, X-Forwarded-*, User-Agent…: sent as the proxied request would send them. */
  headers: Record<string, string>
}

/** How whoami reaches the app: a GET of `path` as that browser, within `timeoutMs`. */
export type AskApp = (path: string, context: AskContext, timeoutMs: number) => Promise<{ status: number, body: Buffer }>

export interface WhoamiAnswer {
  /** Undefined: nobody is signed in with that session (or the app could not tell). */
  user?: string
  group?: string
  /**
   * The app said so plainly (a 2xx naming nobody, or 401/403), as opposed to
   * failing to answer: only a plain "nobody" may be remembered.
   */
  definite: boolean
}

/** Values that never name anybody. */
const NOBODY = new Set(['', 'null', '0', 'undefined', 'false'])

/**
 * `whoami`: after the app hands out a new session cookie (or when the gateway
 * meets a session it has never seen), ask the app itself who it belongs to,
 * with that cookie, on a page or API that shows the signed-in user. An answer
 * that is not 2xx, or whose value is missing, empty, `null` or `0` (or one of
 * `anonymous`), means nobody is signed in.
 */
export function createWhoami (config: WhoamiConfig, ask: AskApp) {
  const json = config.json === undefined ? undefined : parsePointer(config.json)
  const regex = config.regex === undefined ? undefined : new RegExp(config.regex, 'u')
  const group = config.group
  const groupJson = group !== undefined && json !== undefined ? parsePointer(group) : undefined
  const groupRegex = group !== undefined && regex !== undefined ? new RegExp(group, 'u') : undefined
  const anonymous = new Set(config.anonymous)

  const pick = (v: unknown): string | undefined => {
    if (typeof v !== 'string' && typeof v !== 'number') return undefined
    const s = String(v).trim()
    return NOBODY.has(s.toLowerCase()) || anonymous.has(s) ? undefined : s
  }
  const named = (v: unknown, g: unknown): WhoamiAnswer => {
    const user = normalizeUser(pick(v), config.caseInsensitive)
    return user === undefined ? { definite: true } : { user, group: pick(g), definite: true }
  }

  return async function whoami (context: AskContext): Promise<WhoamiAnswer> {
    let answer
    try {
      answer = await ask(config.path, context, config.timeout)
    } catch {
      return { definite: false }
    }
    if (answer.status === 401 || answer.status === 403) return { definite: true }
    if (answer.status < 200 || answer.status > 299) return { definite: false }
    const text = bodyText(answer.body)
    if (json !== undefined) {
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { return { definite: false } }
      return named(resolvePointer(parsed, json), groupJson === undefined ? undefined : resolvePointer(parsed, groupJson))
    }
    return named(regex?.exec(text)?.[1], groupRegex?.exec(text)?.[1])
  }
}

export type Whoami = ReturnType<typeof createWhoami>

/** `user: { whoami: {…} }` on a login route: the app's answer names the user, and its group if `group` is set. */
export function whoamiStrategy (config: WhoamiConfig, ask: AskApp): AnswerIdentity {
  const whoami = createWhoami(config, ask)
  return {
    phase: 'answer',
    needsAnswerBody: false,
    describe: `whoami ${config.path}`,
    async find (answer: LoginAnswer): Promise<Found> {
      const found = await whoami(answer.context)
      if (found.user === undefined) return { values: [], nobody: found.definite }
      return found.group === undefined ? { values: [found.user] } : { values: [found.user], group: found.group }
    }
  }
}
