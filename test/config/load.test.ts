import t from 'tap'
import { loadConfigText } from '../../src/config/load.js'
import { ConfigError, type Problem } from '../../src/config/problem.js'

const MINIMAL = `upstream: http://127.0.0.1:8000
session: { cookie: sessionid }
login:
  - path: /admin/login/
    user: { form: username }
`

function problemsOf (text: string, env: NodeJS.ProcessEnv = {}): Problem[] {
  try {
    loadConfigText(text, 'sessioncap.yaml', env)
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
  throw new Error('expected the configuration to be refused')
}

t.test('a minimal file gets every default, and is frozen', async (t) => {
  const { config } = loadConfigText(MINIMAL, 'x.yaml', {})
  t.match(config, {
    listen: { host: '0.0.0.0', port: 8080 },
    limit: 1,
    policy: 'evict-idlest',
    sessions: { idleTimeout: 2 * 3_600_000, maxAge: 14 * 86_400_000 },
    ask: { timeout: 300_000, fallback: 'evict-idlest' },
    pages: { prefix: '/.sessioncap/', sessions: true, title: 'Your account', accent: '#2563eb', ip: 'approximate' },
    store: { type: 'memory', maxSessions: 1_000_000 },
    login: { routes: [{ method: 'POST', maxBodyBytes: 65536, bodyTimeout: 10_000, caseInsensitive: false, unidentified: 'refuse' }], auto: false },
    unknownSessions: 'pass',
    logout: [],
    overrides: []
  })
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.login.routes[0]) && Object.isFrozen(config.login.routes[0]?.user), 'deep-frozen')
  t.throws(() => { (config as { limit: number }).limit = 5 }, TypeError)
})

t.test('a documented example parses as documented', async (t) => {
  const { config } = loadConfigText(`
listen: { host: 0.0.0.0, port: 8080 }
upstream: http://127.0.0.1:8000
session:
  cookie: sessionid
  alsoClear: [remember_me]
login:
  - method: POST
    path: /admin/login/
    user: { form: username }
    status: [302, 303]
logout:
  - path: /admin/logout/
limit: 1
overrides:
  - { users: [ops-bot], limit: 0 }
  - { match: "^contractor-", limit: 1 }
policy: evict-idlest
sessions: { idleTimeout: 90s, maxAge: 14d }
ended:
  redirect: /admin/login/?sessioncap=ended
store: { type: memory, maxSessions: 1000000 }
`, 'x.yaml', {})
  t.equal(config.sessions.idleTimeout, 90_000)
  t.same(config.login.routes[0]?.status, [302, 303])
  t.same(config.overrides[1], { match: '^contractor-', limit: 1 })
})

t.test('${ENV_VAR} is substituted in values, typed like a literal when unquoted', async (t) => {
  const { config } = loadConfigText(`${MINIMAL}listen: { port: \${PORT}, host: "\${HOST:-127.0.0.1}" }\nsecret: \${SECRET}\n`, 'x.yaml', {
    PORT: '9090', SECRET: 'k'.repeat(40)
  })
  t.equal(config.listen.port, 9090)
  t.equal(config.listen.host, '127.0.0.1', 'fallback used')
  t.equal(config.secret, 'k'.repeat(40))
})

t.test('a missing variable is a problem at its place', async (t) => {
  const problems = problemsOf(`${MINIMAL}secret: \${NOT_SET}\n`)
  t.match(problems, [{ line: 6, column: 9, path: 'secret', message: /environment variable \$NOT_SET is not set/ }])
})

t.test('an env value cannot inject YAML structure', async (t) => {
  const { config } = loadConfigText(`${MINIMAL}ended: { redirect: "\${R}" }\n`, 'x.yaml', { R: '/x\nlimit: 99' })
  t.equal(config.ended.redirect, '/x\nlimit: 99')
  t.equal(config.limit, 1)
})

t.test('every problem is reported, each with file, line, column, key path and what was expected', async (t) => {
  const problems = problemsOf(`listen: { host: 0.0.0.0, port: 70000 }
upstream: ftp://example.com
session:
  cookie: "bad name"
  alsoClar: []
login:
  - method: PSOT
    path: admin/login/
    user: { form: username, json: /x }
  - path: /x
    user: { from: a }
limit: -1
policy: evict-newest
sessions: { idleTimeout: 2 hours }
overrides:
  - { match: "([", limit: 1 }
  - { limit: 3 }
stor: {}
`)
  const seen = problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.path}: ${p.message}`)
  t.match(seen, [
    /^sessioncap\.yaml:1:32 listen\.port: expected a port number \(0-65535\), got 70000$/,
    /^sessioncap\.yaml:2:11 upstream: expected an http:\/\/ or https:\/\/ URL/,
    /^sessioncap\.yaml:4:11 session\.cookie: expected a cookie name/,
    /^sessioncap\.yaml:5:3 session\.alsoClar: unknown key \(did you mean alsoClear\?\)$/,
    /^sessioncap\.yaml:7:13 login\[0\]\.method: expected an HTTP method .*got "PSOT"$/,
    /^sessioncap\.yaml:8:11 login\[0\]\.path: expected a path starting with \/, got "admin\/login\/"$/,
    /^sessioncap\.yaml:9:11 login\[0\]\.user: expected exactly one way to read the user: form, json, header, responseHeader, responseJson, jwt or whoami$/,
    /^sessioncap\.yaml:11:13 login\[1\]\.user\.from: unknown key \(did you mean form\?\)$/,
    /^sessioncap\.yaml:12:8 limit: expected a whole number of sessions \(0 for unlimited\), or one per scope such as \{ web: 1, api: 5 \}, got -1$/,
    /^sessioncap\.yaml:13:9 policy: expected one of evict-idlest, evict-oldest, reject-new, ask, got "evict-newest"$/,
    /^sessioncap\.yaml:14:26 sessions\.idleTimeout: expected a duration .*got "2 hours"$/,
    /^sessioncap\.yaml:16:14 overrides\[0\]\.match: not a valid regular expression/,
    /^sessioncap\.yaml:17:5 overrides\[1\]: expected users: \[\.\.\.\], match: "regex" or groups: \[\.\.\.\]/,
    /^sessioncap\.yaml:18:1 stor: unknown key \(did you mean store\?\)$/
  ])
  t.equal(problems.length, 14, 'one message per problem')
})

t.test('YAML syntax errors give line and column', async (t) => {
  const problems = problemsOf('upstream: http://x\nlogin: [\n  - a\n')
  t.ok(problems.length > 0)
  t.match(problems[0], { file: 'sessioncap.yaml', line: Number, column: Number, message: /^YAML syntax: / })
  t.ok((problems[0]?.line ?? 0) >= 2)
})

t.test('duplicate keys are refused', async (t) => {
  const problems = problemsOf(`${MINIMAL}limit: 1\nlimit: 2\n`)
  t.match(problems, [{ line: 7, path: 'limit', message: /written twice, on lines 6 and 7/ }])
})

t.test('required keys are named when missing', async (t) => {
  const problems = problemsOf('listen: { port: 8080 }\n')
  const paths = problems.map((p) => `${p.path}: ${p.message}`).sort()
  t.match(paths, [/^login: is required: a list of login routes, auto, or \{ routes: \[\.\.\.\], auto: true \}/, /^session: is required: the app's session cookie/, /^upstream: is required: the app's URL/])
  t.ok(problems.every((p) => p.line === 1), 'pointed at the enclosing mapping')
})

t.test('an empty file and a non-mapping file are refused clearly', async (t) => {
  t.ok(problemsOf('').some((p) => p.path === 'upstream'))
  t.match(problemsOf('- a\n- b\n'), [{ message: /expected a mapping of settings/ }])
})

t.test('paths, URLs and routes that cannot work are problems', async (t) => {
  t.match(problemsOf(`${MINIMAL}listen: { host: 127.0.0.1, port: 8000 }\n`), [{ path: 'upstream', message: /points at the gateway itself/ }])
  t.match(problemsOf(MINIMAL.replace('http://127.0.0.1:8000', 'http://127.0.0.1:8000/app?x=1')), [{ path: 'upstream', message: /only scheme, host and port/ }])
  t.match(problemsOf(MINIMAL.replace('http://127.0.0.1:8000', 'not a url')), [{ path: 'upstream', message: /expected the app's URL/ }])
  t.match(problemsOf(MINIMAL.replace('/admin/login/', '/admin/login/?next=/')), [{ path: 'login[0].path', message: /without \? or #/ }])
  t.match(problemsOf(`${MINIMAL}  - path: /Admin/Login\n    user: { json: /u }\n`), [{ path: 'login[1].path', message: /same route as login\[0\]/ }])
  t.match(problemsOf(`${MINIMAL}sessions: { maxAge: 0s }\n`), [{ path: 'sessions.maxAge', message: /longer than 0s/ }])
  t.match(problemsOf(`${MINIMAL}proxy: { trustProxy: [10.0.0.0/33, nonsense] }\n`), [{ path: 'proxy.trustProxy[0]' }, { path: 'proxy.trustProxy[1]' }])
  t.match(problemsOf(`${MINIMAL}secret: short\n`), [{ path: 'secret', message: /at least 32 characters/ }])
})

t.test('store: which keys go with which type, and where Redis is', async (t) => {
  const withSecret = `${MINIMAL}secret: ${'s'.repeat(40)}\n`
  t.match(problemsOf(`${withSecret}store: { type: redis }\n`), [{ path: 'store', message: /exactly one of url, sentinels \(with name\) or cluster/ }])
  t.match(problemsOf(`${withSecret}store: { type: redis, url: "redis://x:6379", cluster: [{ host: a, port: 1 }] }\n`), [{ path: 'store', message: /exactly one of/ }])
  t.match(problemsOf(`${withSecret}store: { type: redis, sentinels: [{ host: a, port: 26379 }] }\n`), [{ path: 'store.sentinels', message: /expected name/ }])
  t.match(problemsOf(`${MINIMAL}store: { type: redis, url: "redis://x:6379" }\n`), [{ path: 'store', message: /needs `secret`/ }])
  t.match(problemsOf(`${withSecret}store: { url: "redis://x:6379", snapshotInterval: 5m }\n`), [{ path: 'store.url', message: /only for store type redis/ }])
  t.match(problemsOf(`${withSecret}store: { type: redis, url: "redis://x", snapshot: /tmp/s }\n`), [{ path: 'store.snapshot', message: /only for store type memory/ }])
  t.match(problemsOf(`${withSecret}store: { type: redis, url: "http://x" }\n`), [{ path: 'store.url', message: /redis:\/\/ or rediss:\/\// }])
  t.match(problemsOf(`${withSecret}store: { type: redis, url: "redis://x", keyPrefix: "a{b}" }\n`), [{ path: 'store.keyPrefix' }])
  const { config } = loadConfigText(`${withSecret}store: { type: redis, url: "redis://127.0.0.1:6379/0" }\n`, 'x.yaml', {})
  t.match(config.store, { type: 'redis', keyPrefix: 'sessioncap:', onError: 'fail-open', commandTimeout: 200, cacheTtl: 2000, touchInterval: 5000 })
})

t.test('presets: the file wins; mappings merge, lists replace', async (t) => {
  const { config } = loadConfigText(`upstream: http://127.0.0.1:8000
preset: django
session: { alsoClear: [remember] }
limit: 2
`, 'x.yaml', {})
  t.equal(config.session.cookie, 'sessionid', 'from the preset')
  t.same(config.session.alsoClear, ['remember'], 'merged into the preset\'s session')
  t.equal(config.login.routes[0]?.path, '/admin/login/')
  t.equal(config.ended.redirect, undefined, 'ended sessions go to the signed-out page')
  t.equal(config.limit, 2)
  const own = loadConfigText(`upstream: http://127.0.0.1:8000
preset: django
session: { cookie: mysession }
login: [{ path: /signin/, user: { form: email } }]
`, 'x.yaml', {}).config
  t.equal(own.session.cookie, 'mysession')
  t.same(own.login.routes.map((r) => r.path), ['/signin/'], 'a login list replaces the preset\'s')
  t.match(problemsOf('upstream: http://127.0.0.1:1\npreset: djnago\n'), [{ path: 'preset', message: /^no preset "djnago" \(did you mean django\?\)/ }])
  t.match(problemsOf('upstream: http://127.0.0.1:1\npreset: rails\n'), [{ path: 'session.cookie', message: /is required/ }], 'rails names its cookie after the app')
})

t.test('login: auto, adopt, whoami and jwt are checked', async (t) => {
  const base = 'upstream: http://127.0.0.1:1\nsession: { cookie: s }\n'
  t.match(problemsOf(`${base}login: auto\n`), [{ path: 'login', message: /login: auto needs a top-level whoami/ }])
  t.match(problemsOf(`${base}login: []\n`), [{ path: 'login', message: /at least one login route, or auto/ }])
  t.match(problemsOf(`${base}login: [{ path: /l, user: { form: u } }]\nunknownSessions: adopt\n`), [{ path: 'unknownSessions', message: /adopt needs a top-level whoami/ }])
  t.match(problemsOf(`${base}login: auto\nwhoami: { path: /me }\n`), [{ path: 'whoami', message: /exactly one of json/ }])
  t.match(problemsOf(`${base}login: auto\nwhoami: { path: /me, regex: "Welcome" }\n`), [{ path: 'whoami.regex', message: /capture group/ }])
  t.match(problemsOf(`${base}login: auto\nwhoami: { path: /me, json: /u, group: role }\n`), [{ path: 'whoami.group', message: /JSON pointer/ }])
  t.match(problemsOf(`${base}login: [{ path: /l, user: { jwt: { claim: sub } } }]\n`), [{ path: 'login[0].user.jwt', message: /exactly one of cookie/ }])
  t.match(problemsOf(`${base}login: [{ path: /l, user: { jwt: { cookie: t, jwks: /nonexistent/jwks.json } } }]\n`), [{ path: 'login[0].user.jwt.jwks', message: /no such file/ }])
  t.match(problemsOf(`${base}login: [{ path: /l, user: { form: u } }]\noverrides: [{ groups: [admin], limit: 2 }]\n`), [{ path: 'overrides[0].groups', message: /no login route reads a group/ }])
  const { config } = loadConfigText(`${base}login: { routes: [{ path: /l, user: { form: u } }], auto: true }\nwhoami: { path: /me, json: /u }\n`, 'x.yaml', {})
  t.equal(config.login.auto, true)
  t.equal(config.whoami?.timeout, 2000)
})
