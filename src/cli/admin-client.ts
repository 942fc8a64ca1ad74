
/**
 * The admin commands' side of the admin API: where it is, its token, and
 * one call with the three ways it can go wrong told apart (the CLI's exit
 * codes follow them).
 */

export interface AdminTarget {
  /** The API's base URL, without a trailing slash, e.g. `http://127.0.0.1:9090`. */
  url: string
  token: string
}

export interface TargetSources {
  adminUrl?: string | undefined
  token?: string | undefined
  /** A gateway's configuration file: its `admin` host, port and token. */
  config?: string | undefined
}

/** The command line or the configuration does not say how to reach the API (exit 2). */
export class TargetError extends Error {
  readonly lines: readonly string[]
  constructor (lines: readonly string[]) {
    super(lines.join('\n'))
    this.lines = lines
    this.name = 'TargetError'
  }
}

/** The API could not be reached at all (exit 3). */
export class UnreachableError extends Error {
  override name = 'UnreachableError'
}

/** The API answered with an error (exit 1): its message and code, and the body as it came. */
export class ApiError extends Error {
  override name = 'ApiError'
  readonly status: number
  readonly code: string | undefined
  readonly body: string
  constructor (message: string, status: number, code: string | undefined, body: string) {
    super(message)
    this.status = status
    this.code = code
    this.body = body
  }
}

/** A sweep over many users may take a while; a gateway that never answers should not hang a script forever. */
const CALL_TIMEOUT_MS = 120_000

/**
 * Where the API is and its token, each from the first source that has it:
 * the flags (`--admin-url`, `--token`), then the environment
 * (`SESSIONCAP_ADMIN_URL`, `SESSIONCAP_ADMIN_TOKEN`), then the `admin` key of
 * the configuration file (`--config`, or `SESSIONCAP_CONFIG`). The file is
 * read only when a flag or variable leaves something unsaid.
 */
export async function resolveTarget (from: TargetSources, env: NodeJS.ProcessEnv = process.env): Promise<AdminTarget> {
  let url = nonEmpty(from.adminUrl) ?? nonEmpty(env.SESSIONCAP_ADMIN_URL)
  let token = nonEmpty(from.token) ?? nonEmpty(env.SESSIONCAP_ADMIN_TOKEN)
  const file = nonEmpty(from.config) ?? nonEmpty(env.SESSIONCAP_CONFIG)
  if ((url === undefined || token === undefined) && file !== undefined) {
    const fromFile = await targetOfConfig(file)
    url ??= fromFile.url
    token ??= fromFile.token
  }
  if (url === undefined || token === undefined) {
    const missing = url === undefined ? 'where the admin API is' : 'the admin token'
    throw new TargetError([`not told ${missing}: pass --config FILE (its admin: section), or --admin-url URL and --token TOKEN (or set SESSIONCAP_ADMIN_URL and SESSIONCAP_ADMIN_TOKEN)`])
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new TargetError([`the admin URL ${JSON.stringify(url)} is not a URL (e.g. http://127.0.0.1:9090)`])
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TargetError([`the admin URL ${JSON.stringify(url)} is not http(s)`])
  }
  return { url: url.replace(/\/+$/, ''), token }
}

/**
 * The admin API of a gateway's configuration file, as seen from this host.
 * The configuration's reader (YAML, the schema) is loaded only here: a
 * command given --admin-url and --token starts in a third of the time.
 */
async function targetOfConfig (file: string): Promise<{ url?: string, token?: string }> {
  const { readConfig } = await import('./config-file.js')
  let admin
  try {
    admin = readConfig(file).config.admin
  } catch (err) {
    throw new TargetError((err as Error).message.split('\n'))
  }
  if (admin === undefined) throw new TargetError([`${file} has no admin: section, so that gateway runs no admin API`])
  return { url: `http://${connectHost(admin.host)}:${admin.port}`, token: nonEmpty(admin.token) }
}

/** A listener on every address is reached on loopback; an IPv6 literal needs its brackets in a URL. */
function connectHost (host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1'
  if (host === '::' || host === '[::]') return '[::1]'
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'DELETE'
  body?: unknown
}

export interface Answer {
  /** The body as the API sent it (for `--json`). */
  text: string
  json: unknown
}

/** One call. Resolves with a 2xx JSON answer; throws `UnreachableError` or `ApiError` otherwise. */
export async function callAdmin (target: AdminTarget, path: string, opts: CallOptions = {}): Promise<Answer> {
  const url = target.url + path
  const headers: Record<string, string> = { authorization: `Bearer ${target.token}`, accept: 'application/json' }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  let text: string
  try {
    res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      redirect: 'manual',
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS)
    })
    text = await res.text()
  } catch (err) {
    throw new UnreachableError(`cannot reach the admin API at ${target.url}: ${reason(err)}`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // Most often the proxied port instead of the admin one: the app answered.
    throw new ApiError(`${target.url} answered HTTP ${res.status} with something other than JSON: is it the admin API (admin.port), not the proxied port?`, res.status, undefined, '')
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: unknown, code?: unknown }
    const message = typeof e.error === 'string' ? e.error : `HTTP ${res.status}`
    throw new ApiError(message, res.status, typeof e.code === 'string' ? e.code : undefined, text)
  }
  return { text, json }
}

/** fetch says "fetch failed"; the cause says what happened (ECONNREFUSED 127.0.0.1:9090, ENOTFOUND…). */
function reason (err: unknown): string {
  const e = err as Error & { cause?: Error & { code?: string } }
  if (e.name === 'TimeoutError') return `no answer within ${CALL_TIMEOUT_MS / 1000}s`
  const cause = e.cause
  if (cause !== undefined) return cause.code !== undefined && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message
  return e.message
}
