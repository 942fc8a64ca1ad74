import { isIP } from 'node:net'
import { keyPath, type Problem } from './problem.js'
import { normalizePath } from '../http/path.js'
import { parseDuration } from './duration.js'

export type Locate = (segments: readonly (string | number)[]) => { file: string, line: number, column: number }

/** Reads an untrusted value: these checks run on files that may have failed the schema too. */
type Raw = Record<string, unknown>
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Raw : {})
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)

/**
 * Problems the schema cannot see: a URL that does not parse, a regular
 * expression that does not compile, two routes that are the same route.
 * They run on the file as written (with defaults), whether or not it passed
 * the schema, so one run reports everything. Pure: nothing is resolved,
 * opened or bound.
 */
export function semanticProblems (raw: unknown, locate: Locate, written: { storeKeys: readonly string[] }): Problem[] {
  const config = obj(raw)
  const problems: Problem[] = []
  const add = (segments: (string | number)[], message: string): void => {
    problems.push({ ...locate(segments), path: keyPath(segments), message })
  }

  checkUpstream(config, add)

  const seen = new Map<string, number>()
  list(config.login).forEach((item, i) => {
    const route = obj(item)
    const path = str(route.path)
    if (path === undefined) return
    if (/[?#]/.test(path)) add(['login', i, 'path'], 'expected a path without ? or # (the query string is not part of a route)')
    const key = `${str(route.method) ?? 'POST'} ${normalizePath(path)}`
    const first = seen.get(key)
    if (first !== undefined) add(['login', i, 'path'], `same route as login[${first}] (${key})`)
    else seen.set(key, i)
  })
  list(config.logout).forEach((item, i) => {
    const path = str(obj(item).path)
    if (path !== undefined && /[?#]/.test(path)) add(['logout', i, 'path'], 'expected a path without ? or # (the query string is not part of a route)')
  })

  list(config.overrides).forEach((item, i) => {
    const o = obj(item)
    if (o.users === undefined && o.match === undefined) {
      add(['overrides', i], 'expected `users: [...]` or `match: "regex"` (or both) to say whom the override is for')
    }
    const match = str(o.match)
    if (match !== undefined) {
      try {
        new RegExp(match, 'u')
      } catch (err) {
        add(['overrides', i, 'match'], `not a valid regular expression: ${(err as Error).message}`)
      }
    }
  })

  checkStore(config, new Set(written.storeKeys), add)

  const maxAge = str(obj(config.sessions).maxAge)
  if (maxAge !== undefined && parseDuration(maxAge) === 0) add(['sessions', 'maxAge'], 'expected a duration longer than 0s')

  const redirect = str(obj(config.ended).redirect)
  if (redirect !== undefined && /^https?:/.test(redirect) && !URL.canParse(redirect)) {
    add(['ended', 'redirect'], 'not a valid URL')
  }

  list(obj(config.proxy).trustProxy).forEach((entry, i) => {
    if (typeof entry === 'string' && !isTrustEntry(entry)) {
      add(['proxy', 'trustProxy', i], `expected an IP address, a CIDR range or one of loopback, linklocal, uniquelocal, got ${JSON.stringify(entry)}`)
    }
  })
  return problems
}

const REDIS_ONLY = ['url', 'sentinels', 'name', 'cluster', 'password', 'commandTimeout', 'cacheTtl', 'touchInterval']
const MEMORY_ONLY = ['snapshot', 'snapshotInterval']

/** Which store keys go with which type. Only keys the file wrote count: defaults fill every key of both types. */
function checkStore (config: Raw, written: ReadonlySet<string>, add: (segments: (string | number)[], message: string) => void): void {
  const store = obj(config.store)
  const given = (k: string): boolean => written.has(k)
  if (store.type === 'redis') {
    for (const k of MEMORY_ONLY) if (given(k)) add(['store', k], 'only for store type memory')
    const where = ['url', 'sentinels', 'cluster'].filter(given)
    if (where.length !== 1) add(['store'], 'expected exactly one of url, sentinels (with name) or cluster to say where Redis is')
    if (given('sentinels') && !given('name')) add(['store', 'sentinels'], 'expected name: the master name the Sentinels watch')
    if (given('name') && !given('sentinels')) add(['store', 'name'], 'only with sentinels')
    if (str(config.secret) === undefined) add(['store'], 'a shared store needs `secret` (the same on every gateway), so all of them hash a cookie alike')
  } else {
    for (const k of REDIS_ONLY) if (given(k)) add(['store', k], 'only for store type redis')
    if (given('snapshot') && str(config.secret) === undefined) add(['store', 'snapshot'], 'a snapshot needs `secret`, so the sessions it holds are recognised after a restart')
  }
}

function checkUpstream (config: Raw, add: (segments: (string | number)[], message: string) => void): void {
  const upstream = str(config.upstream)
  if (upstream === undefined || upstream === '') return
  let url: URL
  try {
    url = new URL(upstream)
  } catch {
    add(['upstream'], `expected the app's URL, e.g. http://127.0.0.1:8000, got ${JSON.stringify(upstream)}`)
    return
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    add(['upstream'], `expected an http:// or https:// URL, got ${url.protocol}`)
    return
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    add(['upstream'], 'expected only scheme, host and port (e.g. http://127.0.0.1:8000): the app is proxied at its root')
  }
  const port = Number(url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port)
  const local = ['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '[::]']
  const listen = obj(config.listen)
  const host = str(listen.host) ?? '0.0.0.0'
  if (port === listen.port && local.includes(url.hostname) && local.includes(host.includes(':') ? `[${host}]` : host)) {
    add(['upstream'], `points at the gateway itself (port ${port}): requests would loop`)
  }
}

function isTrustEntry (entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true
  const [ip, bits, extra] = entry.split('/')
  if (extra !== undefined || ip === undefined) return false
  const family = isIP(ip)
  if (family === 0) return false
  if (bits === undefined) return true
  if (!/^[0-9]{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}
