/** Longest user name the gateway keeps; a longer one is not a name, and is refused as unidentified. */
export const MAX_USER_LENGTH = 512

/**
 * The form a user name is compared in: trimmed, and lowercased when the route
 * says the app ignores case (so `Alice` and `alice ` are one account).
 * Returns undefined for a value that names nobody.
 */
export function normalizeUser (value: unknown, caseInsensitive: boolean): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  let user = String(value).trim()
  if (caseInsensitive) user = user.toLowerCase()
  if (user === '' || user.length > MAX_USER_LENGTH) return undefined
  return user
}
