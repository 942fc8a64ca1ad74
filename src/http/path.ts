import { safeDecode } from './percent.js'

/**
 * The form in which request paths are compared with the login and logout
 * routes of the configuration.
 *
 * Apps do not agree on what a path is: `/admin/login`, `/admin/login/`,
 * `/Admin/Login`, `/admin//login/`, `/admin/%6cogin/` and `/admin/login;x=1`
 * reach the same login view in one framework or another. A client that could
 * reach the app's login under a spelling the gateway does not recognise would
 * log in uncounted, so this normalisation errs towards matching: decoding,
 * collapsing slashes, resolving dot segments, dropping `;parameters`, ignoring
 * case, the trailing slash and a format suffix (`/login.json`: Rails'
 * `(.:format)`, Spring's suffix matching), and the trailing dots and spaces
 * of each segment (`/login.`, `/login%20/`: Windows drops them from file
 * names, so IIS reaches `/login` under those spellings). Matching too much is harmless here: a request
 * only counts as a login if the app answers it with a new session cookie.
 * The request itself is always forwarded exactly as it came.
 */
export function normalizePath (rawUrl: string): string {
  // Every request passes here: most paths are plain already (no escapes,
  // dots, doubled slashes, parameters or capitals), and only need the query
  // and a trailing slash cut.
  const simple = PLAIN_PATH.exec(rawUrl)
  if (simple !== null) return simple[1] === undefined || simple[1] === '' ? '/' : withoutFormat(simple[1])
  return normalizePathFully(rawUrl)
}

function withoutFormat (path: string): string {
  const out = path.replace(FORMAT_SUFFIX, '$1')
  return out === '' ? '/' : out
}
// `/login.json`, and `/login/.json` (which some routers read as /login too).
const FORMAT_SUFFIX = /(?:([^/.])|\/)\.[a-z0-9]{1,8}$/

/** The general case of `normalizePath` (exported so a test can check the fast path agrees with it). */
export function normalizePathFully (rawUrl: string): string {
  let end = rawUrl.length
  const q = rawUrl.indexOf('?')
  if (q !== -1) end = q
  const h = rawUrl.indexOf('#')
  if (h !== -1 && h < end) end = h
  const raw = rawUrl.slice(0, end)

  const out: string[] = []
  for (let segment of safeDecode(raw).replaceAll('\\', '/').split('/')) {
    const semi = segment.indexOf(';')
    if (semi !== -1) segment = segment.slice(0, semi)
    if (segment === '.') continue
    if (segment === '..') { out.pop(); continue }
    // As Windows path normalisation does: `.` and `..` first, then trailing
    // dots and spaces trimmed from names. A segment of only dots and spaces
    // (`...`, `.. `) is thus a name trimmed to nothing, not a parent.
    segment = withoutTrailingDotsAndSpaces(segment)
    if (segment === '') continue
    out.push(segment.toLowerCase())
  }
  return withoutFormat('/' + out.join('/'))
}

function withoutTrailingDotsAndSpaces (segment: string): string {
  let end = segment.length
  while (end > 0 && (segment.charCodeAt(end - 1) === 0x2e || segment.charCodeAt(end - 1) === 0x20)) end--
  return end === segment.length ? segment : segment.slice(0, end)
}

// A path of lowercase segments that do not end with a dot (so neither `.`-
// segments nor IIS's `/login.`), then an optional query.
const PLAIN_PATH = /^((?:\/[a-z0-9\-._~!$&'()*+,=:@]*[a-z0-9\-_~!$&'()*+,=:@])*)\/?(?:[?#].*)?$/
