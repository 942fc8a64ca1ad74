/** Longest user name the gateway keeps; a longer one is not a name, and is refused as unidentified. */
export const MAX_USER_LENGTH = 512

/** C0 controls, DEL and NEL: dropped from a name (normalizeUser). */
const CONTROLS = /[\u0000-\u001f\u007f\u0085]/g

/**
 * The form a user name is compared in: Unicode NFKC (Django, for one, signs
 * `ａlice` in as `alice`: two spellings of one account must not count apart),
 * trimmed, and lowercased when the route says the app ignores case (so
 * `Alice` and `alice ` are one account). Folding too much only ever counts
 * two names as one; folding too little would let one account count as two.
 * Control characters (C0, DEL, U+0085) are dropped wherever they are: JS's
 * trim keeps them, but Ruby's strip drops NUL (Devise signs
 * `bob@example.com%00` in as bob) and Python's strip drops \x1c–\x1f and
 * U+0085 (Django's CharField): each padding would otherwise be a new
 * account to the limit and the login guard, and no real name holds one.
 * Returns undefined for a value that names nobody.
 */
export function normalizeUser (value: unknown, caseInsensitive: boolean): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  let user = String(value).normalize('NFKC').replace(CONTROLS, '').trim()
  if (caseInsensitive) user = user.toLowerCase()
  if (user === '' || user.length > MAX_USER_LENGTH) return undefined
  return user
}
