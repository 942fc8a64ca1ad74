/**
 * Reading the session cookie from a request's `Cookie` header.
 *
 * Not through a cookie parser that returns one value per name: a request may
 * carry the same name several times (a cookie set for `/` and another for
 * `/app`, or a forged duplicate), and an app may read either the first or the
 * last. The gateway judges every value. Values are kept exactly as sent
 * (no URI decoding), which is also what the app's Set-Cookie contained.
 */
export function cookieValues (header: string | undefined, name: string): string[] {
  if (header === undefined || !header.includes(name)) return []
  const values: string[] = []
  let start = 0
  while (start < header.length) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const eq = header.indexOf('=', start)
    if (eq !== -1 && eq < end && header.slice(start, eq).trim() === name) {
      const value = header.slice(eq + 1, end).trim()
      if (value !== '') values.push(value)
    }
    start = end + 1
  }
  return values
}

/** The `Cookie` header without the given values of one cookie name; undefined when nothing is left. */
export function withoutCookieValues (header: string, name: string, drop: ReadonlySet<string>): string | undefined {
  const kept = header.split(';').filter((pair) => {
    const eq = pair.indexOf('=')
    if (eq === -1) return pair.trim() !== ''
    return !(pair.slice(0, eq).trim() === name && drop.has(pair.slice(eq + 1).trim()))
  }).map((p) => p.trim())
  return kept.length === 0 ? undefined : kept.join('; ')
}
