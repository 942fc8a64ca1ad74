import type { Config } from '../config/schema.js'
import type { LimitFor } from '../domain/limits.js'
import type { DecidingPolicy } from '../domain/policy.js'
import type { SessionsContext } from '../sessions/context.js'
import type { LoginGuard } from '../guard/index.js'

/** What the admin API needs of the gateway (its context has all of it); the admin API depends on no module of the proxy. */
export interface AdminContext extends SessionsContext {
  readonly config: Config
  readonly limitFor: LimitFor
  readonly decidingPolicy: DecidingPolicy
  /** The login guard, or undefined with `guard: false`. */
  readonly guard: LoginGuard | undefined
  readonly log: SessionsContext['log'] & {
    warn: (details: object, message: string) => void
    error: (details: object, message: string) => void
  }
}
