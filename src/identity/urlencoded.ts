/**
 * The fields of an `application/x-www-form-urlencoded` text, read as the URL
 * Standard reads them (URLSearchParams, qs, PHP, Rack, Django agree on
 * this): split at '&', each at its first '=', '+' a space, percent-escapes
 * decoded as UTF-8 bytes, a malformed escape kept as written, bytes that
 * are no UTF-8 read as U+FFFD. Hand-written because Node's URLSearchParams
 * takes quadratic time on fields without '=' (`a&a&a…`: 4 MiB of them took
 * 111 s on Node 24): this is one pass. `visit` gets each field's name, and
 * its value only when it asks for it (most names are not the user's field).
 */
export function forEachField (text: string, visit: (name: string, value: () => string) => void): void {
  let start = 0
  // The next '=' is looked for again only once passed: a text without one is not scanned to its end for every field.
  let eq = -1
  while (start <= text.length) {
    let end = text.indexOf('&', start)
    if (end === -1) end = text.length
    if (end > start) {
      if (eq !== text.length && eq < start) {
        eq = text.indexOf('=', start)
        if (eq === -1) eq = text.length
      }
      const split = eq > end ? end : eq
      const name = decodeComponent(text.slice(start, split))
      const from = split + 1
      visit(name, () => from > end ? '' : decodeComponent(text.slice(from, end)))
    }
    start = end + 1
  }
}

function decodeComponent (s: string): string {
  const spaced = s.includes('+') ? s.replaceAll('+', ' ') : s
  // (Texts come from UTF-8 decoding, so hold no lone surrogate for the URL Standard's encoding to replace.)
  if (!spaced.includes('%')) return spaced
  const bytes = Buffer.from(spaced, 'utf8')
  const out = Buffer.allocUnsafe(bytes.length)
  let n = 0
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i] as number
    if (c === 0x25 && i + 2 < bytes.length) {
      const hi = hexValue(bytes[i + 1] as number)
      const lo = hexValue(bytes[i + 2] as number)
      if (hi !== -1 && lo !== -1) {
        out[n++] = hi * 16 + lo
        i += 2
        continue
      }
    }
    out[n++] = c
  }
  return out.toString('utf8', 0, n)
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}
