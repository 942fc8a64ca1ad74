import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * Checks an `Authorization: Bearer …` header against the admin token in
 * constant time: both sides are hashed first, so neither the token's length
 * nor its first differing byte shows in the time taken.
 */
export function bearerMatches (header: string | undefined, token: string): boolean {
  if (header === undefined) return false
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)
  const given = digest(m?.[1] ?? '')
  // Compared even when the header is malformed, so that case takes the same time.
  return timingSafeEqual(given, digest(token)) && m !== null
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text).digest()
}
