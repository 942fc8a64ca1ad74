/** A limit: one number for every scope, or one per scope. */
export type Limit = number | Readonly<Record<string, number>>

/** The part of the configuration that decides how many sessions a user may have. */
export interface LimitRules {
  limit: Limit
  overrides: ReadonlyArray<{ users?: readonly string[], match?: string, groups?: readonly string[], limit: Limit }>
}

/** What is known of a login besides the user: its scope (web, api…) and the user's group, if read. */
export interface LimitContext {
  scope?: string
  group?: string
}

export type LimitFor = (user: string, context?: LimitContext) => number

export const DEFAULT_SCOPE = 'default'

/**
 * Compiles the default limit and the overrides into one lookup. The first
 * override whose conditions all hold wins (`users` lists names, `match` is a
 * regular expression tested against the normalised name, `groups` lists the
 * groups the login was read to be in). A limit given per scope applies to
 * that scope; an override that has no value for a scope leaves it to the
 * default limit.
 */
export function compileLimits (rules: LimitRules): LimitFor {
  const compiled = rules.overrides.map((o) => ({
    // Names are also matched in lower case, so `users: [OpsBot]` still matches
    // when a case-insensitive login route has lowercased the name.
    users: o.users === undefined ? undefined : new Set([...o.users, ...o.users.map((u) => u.toLowerCase())]),
    match: o.match === undefined ? undefined : new RegExp(o.match, 'u'),
    groups: o.groups === undefined ? undefined : new Set(o.groups),
    limit: o.limit
  }))
  const pick = (limit: Limit, scope: string): number | undefined => typeof limit === 'number' ? limit : limit[scope]
  return (user, context = {}) => {
    const scope = context.scope ?? DEFAULT_SCOPE
    for (const o of compiled) {
      if (o.users !== undefined && !o.users.has(user)) continue
      if (o.match !== undefined && !o.match.test(user)) continue
      if (o.groups !== undefined && (context.group === undefined || !o.groups.has(context.group))) continue
      const v = pick(o.limit, scope)
      if (v !== undefined) return v
      break
    }
    // The configuration check makes sure every scope in use has a default limit.
    return pick(rules.limit, scope) ?? 1
  }
}

/**
 * Whose slots a session takes: the user, counted apart per scope, so web
 * logins and API tokens of one user never end each other. The store counts
 * by this name; the default scope keeps the plain user name.
 */
export function slotOwner (user: string, scope: string | undefined): string {
  return scope === undefined || scope === DEFAULT_SCOPE ? user : `${user}\u001f${scope}`
}

/** The user and scope back from a slot owner (for logs and listings). */
export function ownerParts (owner: string): { user: string, scope: string } {
  const i = owner.lastIndexOf('\u001f')
  return i === -1 ? { user: owner, scope: DEFAULT_SCOPE } : { user: owner.slice(0, i), scope: owner.slice(i + 1) }
}
