/**
 * The parameters of a header value from `from` on (`; key=value` pairs, as
 * RFC 9110 writes them), read strictly: keys lower-cased, each at most once;
 * a value a token without a single quote or a quoted string without
 * backslashes, ';', ':' or line breaks (frameworks unescape `\"` differently, and browsers never send one:
 * they percent-encode a '"'). Undefined when anything else is found, so that a
 * value some parser reads one way and some another is never read at all.
 */
export function parseParams (text: string, from: number): Map<string, string> | undefined {
  const params = new Map<string, string>()
  let i = skipSpace(text, from)
  while (i < text.length) {
    if (text[i] !== ';') return undefined
    i = skipSpace(text, i + 1)
    const keyEnd = tokenEnd(text, i)
    if (keyEnd === i || text[keyEnd] !== '=') return undefined
    const key = text.slice(i, keyEnd).toLowerCase()
    let value: string
    i = keyEnd + 1
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1)
      if (close === -1) return undefined
      value = text.slice(i + 1, close)
      // (A ';' too: parsers that split at it before they look at quotes read `name="x;name=user"` as user.)
      // (And ':': Rack finds "Content-Disposition:" inside another header's quoted value.)
      if (/[\\;:\r\n]/.test(value)) return undefined
      i = close + 1
    } else {
      const end = tokenEnd(text, i)
      if (end === i) return undefined
      value = text.slice(i, end)
      // PHP strips single quotes around a value: name='username' is username to it alone.
      if (value.includes("'")) return undefined
      i = end
    }
    if (params.has(key)) return undefined
    params.set(key, value)
    i = skipSpace(text, i)
  }
  return params
}

/** The parameters of a Content-Type (`type/subtype; key=value…`), read as parseParams reads them; undefined for one not so formed. */
export function mediaTypeParams (value: string): Map<string, string> | undefined {
  const media = /^[ \t]*[!#$%&*+.^_`|~0-9A-Za-z-]+\/[!#$%&*+.^_`|~0-9A-Za-z-]+/.exec(value)
  return media === null ? undefined : parseParams(value, media[0].length)
}

function skipSpace (text: string, i: number): number {
  while (text[i] === ' ' || text[i] === '\t') i++
  return i
}

/** Where a run of RFC 9110 token characters starting at `i` ends. */
function tokenEnd (text: string, i: number): number {
  while (i < text.length && isTokenChar(text.charCodeAt(i))) i++
  return i
}

function isTokenChar (c: number): boolean {
  // ALPHA / DIGIT / "!#$%&'*+-.^_`|~"
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c))
}
