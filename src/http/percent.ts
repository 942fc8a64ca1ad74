/**
 * Percent-decodes as far as possible: a malformed escape (`%zz`, a lone `%`)
 * is left as written instead of failing the whole value, which is how
 * lenient servers read it too.
 */
export function safeDecode (s: string): string {
  if (!s.includes('%')) return s
  try {
    return decodeURIComponent(s)
  } catch {
    return s.replace(/(%[0-9A-Fa-f]{2})+/g, (m) => {
      try { return decodeURIComponent(m) } catch { return m }
    })
  }
}
