import t, { type Test } from 'tap'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { startDjango } from './helpers/frameworks.js'
import { cli } from './helpers/cli.js'

/**
 * `sessioncap check --probe`: the app is asked (GET only) what the file
 * assumes, against the stand-in app and the real Django admin. The two
 * commonest mistakes — a wrong login path, a wrong session cookie name —
 * each get their hint, and exit 1.
 */
async function probe (t: Test, yaml: string): Promise<{ code: number | null, stdout: string }> {
  const dir = t.testdir({ 'p.yaml': yaml })
  const r = await cli(['check', '--probe', '--config', `${dir}/p.yaml`])
  return { code: r.code, stdout: r.stdout + r.stderr }
}

t.test('the stand-in app: a right file is all ok; a wrong user field and a wrong path get their hints', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const good = await probe(t, `upstream: ${app.url}\nsession: { cookie: sessionid }\nlogin: [{ path: /admin/login/, user: { form: username } }]\n`)
  t.equal(good.code, 0, good.stdout)
  t.match(good.stdout, /^ok {3}GET \/admin\/login\/: 200, sets no cookie$/m)
  t.match(good.stdout, /^ok {3}GET \/admin\/login\/: the form has the field "username"$/m)
  const field = await probe(t, `upstream: ${app.url}\nsession: { cookie: sessionid }\nlogin: [{ path: /admin/login/, user: { form: email } }]\n`)
  t.equal(field.code, 1)
  t.match(field.stdout, /^WARN GET \/admin\/login\/: the form has no field named "email" \(it has username, password\): is login\[\]\.user\.form right\?$/m)
  const path = await probe(t, `upstream: ${app.url}\nsession: { cookie: sessionid }\nlogin: [{ path: /users/sign_in, user: { form: username } }]\n`)
  t.equal(path.code, 1)
  t.match(path.stdout, /^WARN GET \/users\/sign_in: 404: the app has no page there: is login\[\]\.path right\?/m)
  const down = await probe(t, 'upstream: http://127.0.0.1:9\nsession: { cookie: sessionid }\nlogin: [{ path: /admin/login/, user: { form: username } }]\n')
  t.equal(down.code, 1)
  t.match(down.stdout, /^WARN the app does not answer at http:\/\/127\.0\.0\.1:9\/admin\/login\/ .*is upstream right/m)
})

t.test('the real Django admin: a wrong cookie name and a wrong login path each get the right hint', async (t) => {
  const django = await startDjango(t)
  const right = await probe(t, `upstream: ${django.url}\npreset: django\n`)
  t.equal(right.code, 0, right.stdout)
  t.match(right.stdout, /^ok {3}GET \/admin\/login\/: 200, sets csrftoken$/m)
  t.match(right.stdout, /^ok {3}GET \/accounts\/login\/: 404: not a page of this app \(another login route is\): fine$/m, 'a preset route the app lacks, beside one it has, is no warning')
  t.match(right.stdout, /^ok {3}the session cookie sessionid was not set by these pages \(many apps set it only when a user signs in/m)
  const cookie = await probe(t, `upstream: ${django.url}\npreset: django\nsession: { cookie: session_id }\n`)
  t.equal(cookie.code, 1)
  t.match(cookie.stdout, /^WARN the app sets csrftoken: it looks like Django, whose session cookie is sessionid, but session\.cookie is session_id \(preset: django has its defaults\)$/m)
  const path = await probe(t, `upstream: ${django.url}\npreset: django\nlogin: [{ path: /login/, user: { form: username } }]\n`)
  t.equal(path.code, 1)
  t.match(path.stdout, /^WARN GET \/login\/: 404: the app has no page there: is login\[\]\.path right\?/m)
})
