/** The part of the configuration that decides how many sessions a user may have. */
export interface LimitRules {
  limit: number
  overrides: ReadonlyArray<{ users?: readonly string[], match?: string, limit: number }>
}

export type LimitFor = (user: string) => number

/**
 * Compiles the default limit and the overrides into one lookup. The first
 * override whose conditions all hold wins (`users` lists names, `match` is a
 * regular expression tested against the normalised name).
 */
export function compileLimits (rules: LimitRules): LimitFor {
  const compiled = rules.overrides.map((o) => ({
    // Names are also matched in lower case, so `users: [OpsBot]` still matches
    // when a case-insensitive login route has lowercased the name.
    users: o.users === undefined ? undefined : new Set([...o.users, ...o.users.map((u) => u.toLowerCase())]),
    match: o.match === undefined ? undefined : new RegExp(o.match, 'u'),
    limit: o.limit
  }))
  if (compiled.length === 0) return () => rules.limit
  return (user) => {
    for (const o of compiled) {
      if (o.users !== undefined && !o.users.has(user)) continue
      if (o.match !== undefined && !o.match.test(user)) continue
      return o.limit
    }
    return rules.limit
  }
}
