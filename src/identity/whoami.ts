import type { WhoamiConfig } from '../config/schema.js'
import { bodyText } from './body-text.js'
import type { AnswerIdentity, LoginAnswer } from './identity.js'
import { parsePointer, resolvePointer } from './json.js'

/** How whoami reaches the app: a GET of `path` with these cookies (and Host), within `timeoutMs`. */
export type AskApp = (path: string, cookieHeader: string, host: string | undefined, timeoutMs: number) => Promise<{ status: number, body: Buffer }>

export interface WhoamiAnswer {
  /** Undefined: anonymous (nobody is signed in with that session). */
  user?: string
  group?: string
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

  return async function whoami (cookieHeader: string, host: string | undefined): Promise<WhoamiAnswer> {
    const answer = await ask(config.path, cookieHeader, host, config.timeout)
    if (answer.status < 200 || answer.status > 299) return {}
    const text = bodyText(answer.body)
    if (json !== undefined) {
      let parsed: unknown
      try { parsed = JSON.parse(text) } catch { return {} }
      const user = pick(resolvePointer(parsed, json))
      return user === undefined ? {} : { user, group: groupJson === undefined ? undefined : pick(resolvePointer(parsed, groupJson)) }
    }
    const user = pick(regex?.exec(text)?.[1])
    return user === undefined ? {} : { user, group: pick(groupRegex?.exec(text)?.[1]) }
  }
}

export type Whoami = ReturnType<typeof createWhoami>

/** `user: { whoami: {…} }` on a login route. */
export function whoamiStrategy (config: WhoamiConfig, ask: AskApp): AnswerIdentity & { whoami: Whoami } {
  const whoami = createWhoami(config, ask)
  return {
    phase: 'answer',
    needsAnswerBody: false,
    describe: `whoami ${config.path}`,
    whoami,
    async candidates (answer: LoginAnswer): Promise<string[]> {
      const nobody: WhoamiAnswer = {}
      const found: WhoamiAnswer = await whoami(answer.cookieHeader, answer.host).catch(() => nobody)
      return found.user === undefined ? [] : [found.user]
    }
  }
}
