import { Type, type SchemaOptions, type StaticDecode, type TLiteral, type TSchema, type TUnion, type StringOptions } from '@sinclair/typebox'
import { DURATION_PATTERN, formatDuration, parseDuration } from './duration.js'
import { DECIDING_POLICIES, POLICIES } from '../domain/policy.js'
import { PRESET_NAMES } from './preset-names.js'

/**
 * The one schema of the YAML file. It gives both the validation (unknown keys
 * are refused: every object is `additionalProperties: false`) and, through
 * `StaticDecode`, the TypeScript type of the validated configuration, so the
 * two cannot drift apart. Defaults live here and nowhere else; the
 * configuration reference (docs/configuration.md) lists the same ones (a test
 * checks every key is documented, and no other).
 *
 * `expected` is our own annotation: the words a problem message uses to say
 * what was expected at that place.
 */

/** A union of string literals whose static type is the union of those strings. */
function oneOf<const T extends readonly string[]> (values: T, opts: SchemaOptions): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  // The cast restores the tuple type that Array.prototype.map loses.
  return Type.Union(values.map((v) => Type.Literal(v)), opts) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>
}

function duration (defaultValue: string, opts: { expected?: string } = {}) {
  return Type.Transform(Type.String({
    pattern: DURATION_PATTERN,
    default: defaultValue,
    expected: opts.expected ?? 'a duration such as 90s, 15m, 2h or 14d'
  }))
    // Decode runs only on values that passed validation, so the pattern holds.
    .Decode((text) => parseDuration(text) as number)
    .Encode((ms) => formatDuration(ms))
}

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'QUERY'] as const
function method (opts: { default?: string } = {}) {
  return oneOf(HTTP_METHODS, { expected: `an HTTP method (${HTTP_METHODS.join(', ')})`, ...opts })
}

// RFC 6265 §4.1.1: a cookie name is an RFC 7230 token.
const TOKEN_PATTERN = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
function cookieName (opts: StringOptions = {}) {
  return Type.String({ pattern: TOKEN_PATTERN, expected: 'a cookie name (letters, digits and !#$%&\'*+-.^_`|~)', ...opts })
}

const Path = Type.String({ pattern: '^/', expected: 'a path starting with /' })
const StatusList = Type.Array(Type.Integer({ minimum: 100, maximum: 599, expected: 'an HTTP status code (100-599)' }), {
  minItems: 1,
  expected: 'a list of HTTP status codes, e.g. [302, 303]'
})
function count () {
  return Type.Integer({ minimum: 0, expected: 'a whole number of sessions, 0 for unlimited' })
}
/** A limit: one number, or one per scope (`{ web: 1, api: 5 }`). */
function limit (opts: { default?: number } = {}) {
  return Type.Union([
    count(),
    Type.Record(Type.String({ pattern: TOKEN_PATTERN }), count(), { minProperties: 1 })
  ], { expected: 'a whole number of sessions (0 for unlimited), or one per scope such as { web: 1, api: 5 }', ...opts })
}

const PolicySchema = oneOf(POLICIES, {
  default: 'evict-idlest',
  expected: `one of ${POLICIES.join(', ')}`
})

const Pointer = Type.String({ pattern: '^/', expected: 'a JSON pointer such as /email' })

/** `whoami`: ask the app itself who a session belongs to (see identity/whoami.ts). */
const Whoami = Type.Object({
  path: Type.String({ pattern: '^/(?![/\\\\])', expected: 'the path of a page or API of the app that shows who is signed in, e.g. /api/me' }),
  json: Type.Optional(Pointer),
  regex: Type.Optional(Type.String({ minLength: 1, expected: 'a regular expression whose first group is the user name' })),
  group: Type.Optional(Type.String({ minLength: 1, expected: 'where the user\'s group is in the same answer: a JSON pointer (with json) or a regular expression (with regex)' })),
  anonymous: Type.Array(Type.String(), { default: [], expected: 'a list of values that mean "nobody", e.g. [guest]' }),
  caseInsensitive: Type.Boolean({ default: false, expected: 'true or false' }),
  timeout: duration('2s')
}, { additionalProperties: false, expected: 'a mapping such as { path: /api/me, json: /username }' })

const Jwt = Type.Object({
  cookie: Type.Optional(cookieName()),
  header: Type.Optional(Type.String({ pattern: TOKEN_PATTERN, expected: 'a header name, e.g. Authorization' })),
  claim: Type.String({ minLength: 1, default: 'sub', expected: 'the claim that names the user, e.g. sub or email' }),
  secret: Type.Optional(Type.String({ minLength: 16, expected: 'the HMAC secret the app signs its tokens with' })),
  jwks: Type.Optional(Type.String({ minLength: 1, expected: 'a file holding the app\'s public keys (a JWKS document)' }))
}, { additionalProperties: false, expected: 'a mapping such as { cookie: token, claim: sub }' })

/** Where a login's user (or group) is read: one strategy (see identity/). */
function identitySource (what: string) {
  return Type.Object({
    form: Type.Optional(Type.String({ minLength: 1, expected: 'the name of a form field' })),
    json: Type.Optional(Pointer),
    header: Type.Optional(Type.String({ pattern: TOKEN_PATTERN, expected: 'a header name' })),
    responseHeader: Type.Optional(Type.String({ pattern: TOKEN_PATTERN, expected: 'a header name of the app\'s answer' })),
    responseJson: Type.Optional(Pointer),
    jwt: Type.Optional(Jwt),
    whoami: Type.Optional(Whoami)
  }, {
    additionalProperties: false,
    minProperties: 1,
    maxProperties: 1,
    expected: `exactly one way to read the ${what}: form, json, header, responseHeader, responseJson, jwt or whoami`
  })
}

const LoginRoute = Type.Object({
  method: method({ default: 'POST' }),
  path: Path,
  user: identitySource('user'),
  group: Type.Optional(identitySource('group')),
  scope: Type.Optional(Type.String({ pattern: TOKEN_PATTERN, expected: 'a scope name, e.g. web, api or mobile' })),
  status: Type.Optional(StatusList),
  failureRedirect: Type.Optional(Type.String({ pattern: '^/', expected: 'the path a failed login is redirected to, e.g. /login' })),
  caseInsensitive: Type.Boolean({ default: false, expected: 'true or false' }),
  unidentified: oneOf(['refuse', 'pass'], { default: 'refuse', expected: 'refuse or pass' }),
  maxBodyBytes: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024, default: 64 * 1024, expected: 'a number of bytes between 1 and 16777216' }),
  bodyTimeout: duration('10s')
}, { additionalProperties: false })

const LogoutRoute = Type.Object({
  method: Type.Optional(method()),
  path: Path,
  status: Type.Optional(StatusList)
}, { additionalProperties: false })

const Override = Type.Object({
  users: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, expected: 'a list of user names' })),
  match: Type.Optional(Type.String({ minLength: 1, expected: 'a regular expression' })),
  groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, expected: 'a list of group names' })),
  limit: limit()
}, { additionalProperties: false })

/**
 * `login` as the loader hands it to the schema: `login: [routes]` and
 * `login: auto` are written shorthands of this (see load.ts).
 */
const Login = Type.Object({
  routes: Type.Array(LoginRoute, { default: [], expected: 'a list of login routes' }),
  auto: Type.Boolean({ default: false, expected: 'true or false' })
}, { additionalProperties: false, expected: 'a list of login routes, auto, or { routes: [...], auto: true }' })

const HostPort = Type.Object({
  host: Type.String({ minLength: 1, expected: 'a host name or address' }),
  port: Type.Integer({ minimum: 1, maximum: 65535, expected: 'a port number (1-65535)' })
}, { additionalProperties: false, expected: 'a { host, port } pair' })

/**
 * One object for both store types, so a wrong key gets a plain "unknown key"
 * or "only for type …" message rather than a union's riddle; which keys go
 * with which type is checked in checks.ts.
 */
const Store = Type.Object({
  type: oneOf(['memory', 'redis'], { default: 'memory', expected: 'the store type: memory or redis' }),
  // memory
  maxSessions: Type.Integer({ minimum: 1, default: 1_000_000, expected: 'a positive number of session records' }),
  // Both stores: at the bound new sign-ins are refused, never an ending forgotten (memory-store.ts #ensureRoom).
  maxEnded: Type.Integer({ minimum: 1, default: 10_000_000, expected: 'a positive number of ended sessions' }),
  snapshot: Type.Optional(Type.String({ minLength: 1, expected: 'a file path for the memory store\'s snapshot' })),
  snapshotInterval: duration('1m'),
  // redis
  url: Type.Optional(Type.String({ pattern: '^rediss?://', expected: 'a redis:// or rediss:// URL' })),
  sentinels: Type.Optional(Type.Array(HostPort, { minItems: 1, expected: 'a list of { host, port } Sentinels' })),
  name: Type.Optional(Type.String({ minLength: 1, expected: 'the Sentinel master name, e.g. mymaster' })),
  cluster: Type.Optional(Type.Array(HostPort, { minItems: 1, expected: 'a list of { host, port } Cluster nodes' })),
  password: Type.Optional(Type.String({ expected: 'the Redis password' })),
  keyPrefix: Type.String({ default: 'sessioncap:', pattern: '^[^{}]*$', expected: 'a key prefix without { or }' }),
  onError: oneOf(['fail-open', 'fail-closed'], { default: 'fail-open', expected: 'fail-open or fail-closed' }),
  commandTimeout: duration('200ms'),
  cacheTtl: duration('2s'),
  // How long a live session's cached answer may be trusted while the gateway
  // proves, every second, that it hears the fleet's announcements (redis-store.ts).
  cacheMaxTtl: duration('30s'),
  touchInterval: duration('5s')
}, { additionalProperties: false, default: {} })

/**
 * `ended.upstreamLogout`: the request the app's own logout is made of. Header
 * values may take the request's cookies: `{cookie:NAME}`.
 */
const UpstreamLogout = Type.Object({
  method: method({ default: 'POST' }),
  path: Path,
  headers: Type.Record(Type.String({ pattern: TOKEN_PATTERN }), Type.String(), { default: {}, expected: 'a mapping of header names to values; {cookie:NAME} takes a cookie of the request' }),
  body: Type.Optional(Type.String({ expected: 'a request body (form-encoded), {cookie:NAME} allowed' })),
  timeout: duration('5s')
}, { additionalProperties: false, expected: 'a mapping such as { method: POST, path: /admin/logout/ }' })

const TrustProxy = Type.Union([
  Type.Boolean(),
  Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })
], {
  default: false,
  expected: 'true, false, or a list of proxy addresses/CIDRs (e.g. [10.0.0.0/8, loopback])'
})

/**
 * `guard.userNetwork`, `guard.network`, `guard.user`: one failure counter of
 * the login guard (src/guard/), or `false` to count nothing there.
 */
function guardCounter (failures: number, window: string, what: string) {
  return Type.Union([
    Type.Literal(false),
    Type.Object({
      failures: Type.Integer({ minimum: 1, default: failures, expected: 'a positive whole number of failed logins' }),
      window: duration(window, { expected: 'a duration such as 15m or 1h (counted from the first failure)' })
    }, { additionalProperties: false })
  ], { default: {}, expected: `false (${what} not counted), or a mapping such as { failures: ${failures}, window: ${window} }` })
}

/** The login guard (docs/guard.md): how many failed logins reach the app. On by default; `guard: false` turns it off. */
export const GuardSchema = Type.Object({
  // Absent: the top-level mode. `observe` here rolls the guard out while the limit is enforced.
  mode: Type.Optional(oneOf(['enforce', 'observe'], { expected: 'enforce or observe (absent: the top-level mode)' })),
  userNetwork: guardCounter(5, '15m', 'failures of a user from one network'),
  network: guardCounter(50, '15m', 'failures from one network'),
  user: guardCounter(20, '1h', 'failures of a user from anywhere'),
  maxLoginsPerHour: Type.Integer({ minimum: 0, default: 60, expected: 'a whole number of successful logins per user per hour, 0 for unlimited' }),
  ipv6Prefix: Type.Integer({ minimum: 48, maximum: 128, default: 64, expected: 'an IPv6 prefix length between 48 and 128 (one client network)' }),
  block: Type.Object({
    base: duration('1m', { expected: 'a duration such as 1m (the first block\'s length)' }),
    max: duration('1h', { expected: 'a duration such as 1h (the longest block)' }),
    history: duration('24h', { expected: 'a duration such as 24h (how long a key\'s earlier blocks lengthen the next)' })
  }, { additionalProperties: false, default: {} }),
  device: Type.Union([
    Type.Literal(false),
    Type.Object({
      cookie: cookieName({ default: 'sessioncap_device' }),
      maxAge: duration('90d', { expected: 'a duration such as 90d (how long a device is recognised)' })
    }, { additionalProperties: false })
  ], { default: {}, expected: 'false (no device cookie), or a mapping such as { cookie: sessioncap_device, maxAge: 90d }' }),
  maxKeys: Type.Integer({ minimum: 1, default: 100_000, expected: 'a positive number of counter keys' }),
  inFlightTimeout: duration('2m', { expected: 'a duration longer than proxy.timeout, such as 2m' })
}, { additionalProperties: false })

export const ConfigSchema = Type.Object({
  listen: Type.Object({
    host: Type.String({ minLength: 1, default: '0.0.0.0', expected: 'a host name or IP address' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, expected: 'a port number (0-65535)' }),
    // Serve HTTPS itself (no terminating proxy in front); the files are read again on SIGHUP (listen/certificates.ts).
    tls: Type.Optional(Type.Object({
      cert: Type.String({ minLength: 1, expected: 'the certificate file (PEM; the chain after the certificate), e.g. /etc/sessioncap/tls.crt' }),
      key: Type.String({ minLength: 1, expected: 'the private key file (PEM, not encrypted), e.g. /etc/sessioncap/tls.key' })
    }, { additionalProperties: false, expected: 'a mapping such as { cert: /etc/sessioncap/tls.crt, key: /etc/sessioncap/tls.key }' })),
    // HTTP/2 with HTTP/1.1 on the same port, chosen by ALPN; needs tls (checks.ts says why).
    http2: Type.Boolean({ default: false, expected: 'true or false' })
  }, { additionalProperties: false, default: {} }),
  upstream: Type.String({ minLength: 1, expected: 'the app\'s URL, e.g. http://127.0.0.1:8000' }),
  secret: Type.Optional(Type.String({ minLength: 32, expected: 'a secret of at least 32 characters' })),
  session: Type.Object({
    cookie: cookieName(),
    alsoClear: Type.Array(cookieName(), { default: [], expected: 'a list of cookie names' })
  }, { additionalProperties: false, expected: 'the app\'s session cookie, e.g. { cookie: sessionid } (or a preset that names it)' }),
  preset: Type.Optional(oneOf(PRESET_NAMES, { expected: `a framework preset: ${PRESET_NAMES.join(', ')}` })),
  login: Login,
  whoami: Type.Optional(Whoami),
  unknownSessions: oneOf(['pass', 'adopt'], { default: 'pass', expected: 'pass or adopt' }),
  logout: Type.Array(LogoutRoute, { default: [], expected: 'a list of logout routes' }),
  limit: limit({ default: 1 }),
  overrides: Type.Array(Override, { default: [], expected: 'a list of overrides' }),
  policy: PolicySchema,
  sessions: Type.Object({
    idleTimeout: duration('2h', { expected: 'a duration such as 30m or 2h (0s: never idle)' }),
    maxAge: duration('14d')
  }, { additionalProperties: false, default: {} }),
  ask: Type.Object({
    timeout: duration('5m', { expected: 'a duration such as 2m or 5m' }),
    fallback: oneOf(DECIDING_POLICIES, { default: 'evict-idlest', expected: `one of ${DECIDING_POLICIES.join(', ')}` })
  }, { additionalProperties: false, default: {} }),
  pages: Type.Object({
    prefix: Type.String({ pattern: '^/([A-Za-z0-9._~-]+/)+$', default: '/.sessioncap/', expected: 'a path that starts and ends with /, e.g. /.sessioncap/ (letters, digits and ._~- between the slashes)' }),
    sessions: Type.Boolean({ default: true, expected: 'true or false' }),
    title: Type.String({ minLength: 1, maxLength: 80, default: 'Your account', expected: 'a name of up to 80 characters' }),
    accent: Type.String({ pattern: '^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$', default: '#2563eb', expected: 'a colour such as #2563eb' }),
    templates: Type.Optional(Type.String({ minLength: 1, expected: 'a folder of templates (see docs/pages.md)' })),
    signIn: Type.Optional(Type.String({ pattern: '^(/(?![/\\\\])|https?://)', expected: 'the path (or URL) of the app\'s sign-in page, e.g. /login' })),
    ip: oneOf(['approximate', 'full', 'hidden'], { default: 'approximate', expected: 'approximate, full or hidden' }),
    // The probes on the proxied port too, for a load balancer that reaches no other port.
    health: Type.Boolean({ default: false, expected: 'true or false' })
  }, { additionalProperties: false, default: {} }),
  ended: Type.Object({
    redirect: Type.Optional(Type.String({ pattern: '^(/|https?://)', expected: 'a path starting with / or an http(s) URL' })),
    upstreamLogout: Type.Optional(UpstreamLogout)
  }, { additionalProperties: false, default: {} }),
  mode: oneOf(['enforce', 'observe'], { default: 'enforce', expected: 'enforce or observe' }),
  guard: Type.Union([Type.Literal(false), GuardSchema], {
    default: {},
    expected: 'false (no login guard), or a mapping of guard settings such as { user: false, maxLoginsPerHour: 60 }'
  }),
  admin: Type.Optional(Type.Object({
    host: Type.String({ minLength: 1, default: '127.0.0.1', expected: 'a host name or IP address' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9090, expected: 'a port number (0-65535)' }),
    // Empty (e.g. `${SESSIONCAP_ADMIN_TOKEN:-}` unset): the admin API does not start, and says why.
    token: Type.Optional(Type.String({ pattern: '^(|[\\x21-\\x7e]{16,})$', expected: 'a bearer token of at least 16 printable characters, e.g. ${SESSIONCAP_ADMIN_TOKEN}' }))
  }, { additionalProperties: false, expected: 'a mapping such as { host: 127.0.0.1, port: 9090, token: ${SESSIONCAP_ADMIN_TOKEN} }' })),
  audit: Type.Object({
    file: Type.Optional(Type.String({ minLength: 1, expected: 'a file to append JSON lines to, or - for stdout' })),
    webhook: Type.Optional(Type.String({ pattern: '^https?://', expected: 'an http(s) URL that receives audit events' })),
    webhookHeaders: Type.Record(Type.String({ pattern: TOKEN_PATTERN }), Type.String(), { default: {}, expected: 'a mapping of header names to values, e.g. { Authorization: Bearer ... }' }),
    webhookTimeout: duration('5s'),
    queue: Type.Integer({ minimum: 1, default: 10_000, expected: 'a positive number of events held for the webhook' })
  }, { additionalProperties: false, default: {} }),
  watch: Type.Boolean({ default: false, expected: 'true or false' }),
  shutdownTimeout: duration('10s'),
  store: Store,
  proxy: Type.Object({
    trustProxy: TrustProxy,
    preserveHost: Type.Boolean({ default: true, expected: 'true or false' }),
    timeout: duration('60s'),
    connections: Type.Integer({ minimum: 1, default: 128, expected: 'a positive number of connections' }),
    keepAliveTimeout: duration('60s')
  }, { additionalProperties: false, default: {} }),
  log: Type.Object({
    level: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      default: 'info',
      expected: 'one of fatal, error, warn, info, debug, trace, silent'
    }),
    requests: Type.Boolean({ default: false, expected: 'true or false' }),
    // One line per request once answered (proxy/access-log.ts): method, path, status, duration, user.
    access: Type.Boolean({ default: false, expected: 'true or false' })
  }, { additionalProperties: false, default: {} })
}, { additionalProperties: false })

/** The validated configuration, with durations in milliseconds. Deep-frozen once loaded. */
export type Config = StaticDecode<typeof ConfigSchema>
export type LoginRouteConfig = Config['login']['routes'][number]
export type WhoamiConfig = NonNullable<Config['whoami']>
export type LimitConfig = Config['limit']
export type LogoutRouteConfig = Config['logout'][number]
export type UserSourceConfig = LoginRouteConfig['user']
export type UpstreamLogoutConfig = NonNullable<Config['ended']['upstreamLogout']>
export type GuardConfig = Exclude<Config['guard'], false>
export type TlsConfig = NonNullable<Config['listen']['tls']>

/** Reads our `expected` annotation from any schema node. */
export function expectedOf (schema: TSchema | undefined): string | undefined {
  const value = (schema as { expected?: unknown } | undefined)?.expected
  return typeof value === 'string' ? value : undefined
}
