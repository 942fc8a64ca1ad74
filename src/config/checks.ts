import { existsSync, readFileSync } from 'node:fs'
import { createLocalJWKSet } from 'jose'
import { placeholderProblems } from './placeholders.js'
import { isIP } from 'node:net'
import { normalizePath } from '../http/path.js'
import { parseDuration } from './duration.js'
import { templateFolderProblems } from '../pages/templates.js'
import { checkGuard } from './guard-checks.js'
import { CertificateProblem, readCertificatePair } from '../listen/certificates.js'

export type Locate = (segments: readonly (string | number)[]) => { file: string, line: number, column: number }

/** A problem the schema cannot see, at a key path of the (normalised) configuration. */
export interface SemanticProblem {
  segments: (string | number)[]
  message: string
}

/** Reads an untrusted value: these checks run on files that may have failed the schema too. */
type Raw = Record<string, unknown>
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Raw : {})
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
type Add = (segments: (string | number)[], message: string) => void

/**
 * Problems the schema cannot see: a URL that does not parse, a regular
 * expression that does not compile, two routes that are the same route, a
 * limit for a scope no route has. They run on the file as written (with
 * defaults), whether or not it passed the schema, so one run reports
 * everything. Pure, but for reading the files keys name (a JWKS, a TLS certificate and key).
 */
export function semanticProblems (raw: unknown, written: { storeKeys: readonly string[] }): SemanticProblem[] {
  const config = obj(raw)
  const problems: SemanticProblem[] = []
  const add: Add = (segments, message) => { problems.push({ segments, message }) }

  checkUpstream(config, add)
  checkListen(config, add)
  checkLogin(config, add)
  list(config.logout).forEach((item, i) => {
    const path = str(obj(item).path)
    if (path !== undefined && /[?#]/.test(path)) add(['logout', i, 'path'], 'expected a path without ? or # (the query string is not part of a route)')
  })
  checkLimits(config, add)
  if (config.whoami !== undefined) checkWhoami(obj(config.whoami), ['whoami'], add)
  checkStore(config, new Set(written.storeKeys), add)
  for (const p of placeholderProblems(config)) add(p.segments, p.message)

  const maxAge = str(obj(config.sessions).maxAge)
  if (maxAge !== undefined && parseDuration(maxAge) === 0) add(['sessions', 'maxAge'], 'expected a duration longer than 0s')

  checkPages(config, add)
  checkGuard(config, add)

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

/**
 * `listen.tls` names files that hold a certificate and its key (read here,
 * as the listener will read them), and `http2` needs TLS: browsers speak
 * HTTP/2 only over TLS (RFC 9113 §3.2, ALPN "h2"), and a cleartext HTTP/2
 * port (h2c with prior knowledge) would leave every HTTP/1.1 client
 * without an answer.
 */
function checkListen (config: Raw, add: Add): void {
  const listen = obj(config.listen)
  if (listen.http2 === true && listen.tls === undefined) {
    add(['listen', 'http2'], 'needs listen.tls: HTTP/2 is served over TLS only (browsers speak it over TLS alone, and HTTP/1.1 clients are answered beside it by ALPN)')
  }
  const tls = obj(listen.tls)
  const cert = str(tls.cert)
  const key = str(tls.key)
  if (cert === undefined || key === undefined || cert === '' || key === '') return
  try {
    readCertificatePair({ cert, key })
  } catch (err) {
    if (!(err instanceof CertificateProblem)) throw err
    add(['listen', 'tls', err.at], err.message)
  }
}

function checkPages (config: Raw, add: Add): void {
  const timeout = str(obj(config.ask).timeout)
  if (timeout !== undefined && parseDuration(timeout) === 0) add(['ask', 'timeout'], 'expected a duration longer than 0s (the time a user has to choose)')
  const pages = obj(config.pages)
  const templates = str(pages.templates)
  const wrong = templates === undefined ? [] : templateFolderProblems(templates)
  if (wrong.length > 0) add(['pages', 'templates'], wrong.join('; '))
  // The prefix is the gateway's: a route of the app under it would never be reached.
  const prefix = str(pages.prefix) ?? '/.sessioncap/'
  // In any case: the prefix is matched like the routes are (normalizePath lowercases).
  const lowerPrefix = prefix.toLowerCase()
  const under = (path: unknown): boolean => typeof path === 'string' && (normalizePath(path) + '/').startsWith(lowerPrefix)
  list(obj(config.login).routes).forEach((route, i) => {
    if (under(obj(route).path)) add(['login', 'routes', i, 'path'], `is under pages.prefix (${prefix}), which the gateway keeps for its own pages`)
  })
  list(config.logout).forEach((route, i) => {
    if (under(obj(route).path)) add(['logout', i, 'path'], `is under pages.prefix (${prefix}), which the gateway keeps for its own pages`)
  })
  if (under(obj(config.whoami).path)) add(['whoami', 'path'], `is under pages.prefix (${prefix}), which the gateway keeps for its own pages`)
}

function checkLogin (config: Raw, add: Add): void {
  const login = obj(config.login)
  const routes = list(login.routes)
  if (routes.length === 0 && login.auto !== true) add(['login'], 'expected at least one login route, or auto (with whoami)')
  if (login.auto === true && config.whoami === undefined) add(['login'], 'login: auto needs a top-level whoami, to ask the app who a new session belongs to')
  if (config.unknownSessions === 'adopt' && config.whoami === undefined) add(['unknownSessions'], 'adopt needs a top-level whoami, to ask the app who a session belongs to')

  const seen = new Map<string, number>()
  routes.forEach((item, i) => {
    const route = obj(item)
    const path = str(route.path)
    if (path !== undefined) {
      if (/[?#]/.test(path)) add(['login', 'routes', i, 'path'], 'expected a path without ? or # (the query string is not part of a route)')
      const key = `${str(route.method) ?? 'POST'} ${normalizePath(path)}`
      const first = seen.get(key)
      if (first !== undefined) add(['login', 'routes', i, 'path'], `same route as login[${first}] (${key})`)
      else seen.set(key, i)
    }
    // A group decides a limit: read from the request body, the client would pick its own.
    const group = obj(route.group)
    for (const k of ['form', 'json']) {
      if (group[k] !== undefined) add(['login', 'routes', i, 'group', k], 'a group read from the request body is the client\'s to choose (it would pick the biggest limit): read it from the app\'s answer (responseHeader, responseJson, jwt, whoami), or a header set by an authenticating proxy')
    }
    for (const what of ['user', 'group'] as const) {
      const source = obj(route[what])
      if (source.whoami !== undefined) checkWhoami(obj(source.whoami), ['login', 'routes', i, what, 'whoami'], add)
      if (source.jwt !== undefined) checkJwt(obj(source.jwt), ['login', 'routes', i, what, 'jwt'], add)
    }
  })
}

function checkWhoami (w: Raw, at: (string | number)[], add: Add): void {
  const json = str(w.json)
  const regex = str(w.regex)
  if ((json === undefined) === (regex === undefined)) add(at, 'expected exactly one of json: /pointer or regex: "…" to find the user name in the answer')
  if (regex !== undefined) {
    const re = compile(regex)
    if (typeof re === 'string') add([...at, 'regex'], `not a valid regular expression: ${re}`)
    else if (new RegExp(`${re.source}|`, 'u').exec('')?.length === 1) add([...at, 'regex'], 'expected a capture group ( … ) around the user name')
  }
  const group = str(w.group)
  if (group !== undefined) {
    if (json !== undefined && !group.startsWith('/')) add([...at, 'group'], 'expected a JSON pointer such as /role (the answer is JSON)')
    if (regex !== undefined) {
      const re = compile(group)
      if (typeof re === 'string') add([...at, 'group'], `not a valid regular expression: ${re}`)
    }
  }
}

function checkJwt (j: Raw, at: (string | number)[], add: Add): void {
  if ((j.cookie === undefined) === (j.header === undefined)) add(at, 'expected exactly one of cookie: NAME or header: NAME, where the app puts its token')
  if (j.secret !== undefined && j.jwks !== undefined) add(at, 'expected secret or jwks, not both')
  const jwks = str(j.jwks)
  if (jwks !== undefined) {
    if (!existsSync(jwks)) {
      add([...at, 'jwks'], `no such file: ${jwks}`)
    } else {
      try {
        const set = JSON.parse(readFileSync(jwks, 'utf8')) as { keys?: unknown }
        if (!Array.isArray(set.keys) || set.keys.length === 0) throw new Error('expected { "keys": [ … ] }')
        createLocalJWKSet(set as Parameters<typeof createLocalJWKSet>[0])
      } catch (err) {
        add([...at, 'jwks'], `not a JWKS document: ${(err as Error).message}`)
      }
    }
  }
}

/** Scopes a limit map must cover; groups an override may match. */
function checkLimits (config: Raw, add: Add): void {
  const routes = list(obj(config.login).routes).map(obj)
  const scopes = new Set(routes.map((r) => str(r.scope) ?? 'default'))
  if (obj(config.login).auto === true || config.unknownSessions === 'adopt') scopes.add('default')
  const limit = config.limit
  if (limit !== null && typeof limit === 'object') {
    for (const scope of scopes) {
      if (!Object.hasOwn(limit, scope)) add(['limit'], `no limit for scope "${scope}"${scope === 'default' ? ' (the scope of routes without one)' : ''}`)
    }
    for (const key of Object.keys(limit)) {
      if (!scopes.has(key)) add(['limit', key], `no login route has scope "${key}"`)
    }
  }
  const readsGroups = routes.some((r) => r.group !== undefined || obj(obj(r.user).whoami).group !== undefined) || obj(config.whoami).group !== undefined
  list(config.overrides).forEach((item, i) => {
    const o = obj(item)
    if (o.users === undefined && o.match === undefined && o.groups === undefined) {
      add(['overrides', i], 'expected users: [...], match: "regex" or groups: [...] (or several) to say whom the override is for')
    }
    const match = str(o.match)
    if (match !== undefined) {
      const re = compile(match)
      if (typeof re === 'string') add(['overrides', i, 'match'], `not a valid regular expression: ${re}`)
    }
    if (o.groups !== undefined && !readsGroups) add(['overrides', i, 'groups'], 'no login route reads a group (login[].group, or whoami.group)')
    if (o.limit !== null && typeof o.limit === 'object') {
      for (const key of Object.keys(o.limit)) {
        if (!scopes.has(key)) add(['overrides', i, 'limit', key], `no login route has scope "${key}"`)
      }
    }
  })
}

function compile (source: string): RegExp | string {
  try {
    return new RegExp(source, 'u')
  } catch (err) {
    return (err as Error).message
  }
}

const REDIS_ONLY = ['url', 'sentinels', 'name', 'cluster', 'password', 'commandTimeout', 'cacheTtl', 'cacheMaxTtl', 'touchInterval']
const MEMORY_ONLY = ['snapshot', 'snapshotInterval']

/** Which store keys go with which type. Only keys the file wrote count: defaults fill every key of both types. */
function checkStore (config: Raw, written: ReadonlySet<string>, add: Add): void {
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

function checkUpstream (config: Raw, add: Add): void {
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
