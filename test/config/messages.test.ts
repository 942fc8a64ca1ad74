import t from 'tap'
import { loadConfigText } from '../../src/config/load.js'
import { ConfigError, type Problem } from '../../src/config/problem.js'
import { cli } from '../helpers/cli.js'

/** The configuration mistakes new users made, each answered in words they can act on (issue #15). */
function problemsOf (text: string): Problem[] {
  try {
    loadConfigText(text, 'cfg.yaml', {})
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems]
    throw err
  }
  return []
}

const UP = 'upstream: http://127.0.0.1:8000\n'

t.test('an unknown preset: did you mean, and nothing else (no "session: is required" before it)', async (t) => {
  t.match(problemsOf(`${UP}preset: djang\nlimit: 1\n`), [{ line: 2, column: 9, path: 'preset', message: /^no preset "djang" \(did you mean django\?\); there are django, express-session, php/ }])
  t.equal(problemsOf(`${UP}preset: djang\nlimit: 1\n`).length, 1)
  t.match(problemsOf(`${UP}preset: wordpress\n`), [{ path: 'preset', message: /^no preset "wordpress"; there are / }], 'nothing close: the list alone')
})

t.test('a key written twice names the key and both lines', async (t) => {
  t.match(problemsOf(`${UP}preset: django\nlimit: 1\nlimit: 2\n`), [{ line: 4, column: 1, path: 'limit', message: 'written twice, on lines 3 and 4: keep one' }])
  const routes = `${UP}session:\n  cookie: sid\nlogin:\n  - path: /login\n    user: { form: u }\n  - path: /login2\n    user: { form: u }\n    user: { form: v }\n`
  t.match(problemsOf(routes), [{ line: 9, path: 'user', message: 'written twice, on lines 8 and 9: keep one' }], 'in its own list item, not the one before')
})

t.test('an unclosed { … } or [ … ] points at the line where it opens', async (t) => {
  t.match(problemsOf(`${UP}preset: django\nlisten: { port: 8080,\nlimit: 1\npolicy: ask\n`), [{ line: 3, column: 9, message: 'YAML syntax: the { … } opened here is not closed (a missing "}"?)' }])
  t.match(problemsOf(`${UP}# it's a comment with an apostrophe\npreset: django\nlogout: [ { path: /a }\nlimit: 1\n`), [{ line: 4, column: 9, message: /the \[ … \] opened here is not closed/ }])
})

t.test('preset: rails without session.cookie says what Rails names it', async (t) => {
  t.match(problemsOf(`${UP}preset: rails\nlimit: 1\n`), [{ path: 'session.cookie', message: /^is required with preset: rails: Rails names its session cookie after the app, _<app>_session/ }])
  t.same(problemsOf(`${UP}preset: rails\nsession: { cookie: _shop_session }\nlimit: 1\n`), [], 'and is content once it is there')
})

t.test('a missing configuration file is one plain sentence', async (t) => {
  const dir = t.testdir({})
  const missing = await cli(['check', '--config', `${dir}/sessioncap.yaml`])
  t.equal(missing.code, 2)
  t.equal(missing.stderr, `sessioncap: cannot read configuration file ${dir}/sessioncap.yaml: there is no such file (pass --config with the path of your configuration file)\n`)
  const folder = await cli(['check', '--config', dir])
  t.match(folder.stderr, /: it is a directory, not a file\n$/)
  t.notMatch(missing.stderr + folder.stderr, /ENOENT|EISDIR/)
})
