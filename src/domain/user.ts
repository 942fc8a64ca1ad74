/** Longest user name the gateway keeps; a longer one is not a name, and is refused as unidentified. */
export const MAX_USER_LENGTH = 512

/**
 * The form a user name is compared in: Unicode NFKC (Django, for one, signs
 * `ａlice` in as `alice`: two spellings of one account must not count apart),
 * trimmed, and lowercased when the route says the app ignores case (so
 * `Alice` and `alice ` are one account). Folding too much only ever counts
 * two names as one; folding too little would let one account count as two.
 * Returns undefined for a value that names nobody.
 */
export function normalizeUser (value: unknown, caseInsensitive: boolean): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  let user = String(value).normalize('NFKC').trim()
  if (caseInsensitive) user = user.toLowerCase()
  if (user === '' || user.length > MAX_USER_LENGTH) return undefined
  return user
}
