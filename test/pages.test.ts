import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { loadConfigText } from '../src/config/load.js'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

/** The pages over plain HTTP: headers, switches, the prefix, templates, and the signed-out page's note. */

t.test('every page is uncacheable, unframeable, and allows its one stylesheet and nothing else', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { accent: "#0a7" }\n` })
  const d = h.device('browser')
  await d.formLogin('alice')
  for (const path of ['/.sessioncap/sessions', '/.sessioncap/ended']) {
    const r = await d.send(path)
    t.equal(r.status, 200, path)
    t.equal(r.headers['content-type'], 'text/html; charset=utf-8')
    t.equal(r.headers['cache-control'], 'no-store')
    t.equal(r.headers['x-frame-options'], 'DENY')
    t.equal(r.headers['referrer-policy'], 'no-referrer')
    t.equal(r.headers['x-content-type-options'], 'nosniff')
    t.equal(r.setCookies.length, 0, 'sets no cookie')
    const csp = String(r.headers['content-security-policy'])
    t.match(csp, /^default-src 'none'; style-src 'sha256-[^']+'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'$/)
    const style = /<style>([\s\S]*?)<\/style>/.exec(r.text)?.[1] ?? ''
    t.match(style, /--accent:#0a7/, 'the accent colour is used')
    t.ok(csp.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`), 'the CSP names the inline stylesheet by its hash')
    t.notMatch(r.text, /<script/i, 'no script at all')
  }
})

t.test('the prefix belongs to the gateway: nothing under it reaches the app', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { sessions: false }\n` })
  const before = h.app.requests
  for (const [method, path] of [['GET', '/.sessioncap/sessions'], ['GET', '/.sessioncap/other'], ['POST', '/.sessioncap/x/y'], ['PUT', '/.sessioncap/choose'], ['DELETE', '/.sessioncap/ended']]) {
    const r = await h.device('browser').send(path as string, { method: method as string })
    t.equal(r.status, 404, `${method} ${path}: 404 (the sessions page is switched off)`)
  }
  t.equal(h.app.requests, before)
})

t.test('a prefix of your own', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\npages: { prefix: /_account/ }\n` })
  await h.device('browser').formLogin('alice')
  const r = await h.device('browser').formLogin('alice')
  t.equal(r.headers.location, '/_account/choose?next=%2F')
  t.equal((await h.device('browser').send('/_account/sessions')).status, 200)
  const before = h.app.requests
  t.equal((await h.device('browser').send('/.sessioncap/sessions')).status, 404)
  t.equal(h.app.requests, before + 1, 'the default prefix is the app\'s again')
})

t.test('the prefix is matched in any case, like login paths: the pages, never the app', async (t) => {
  for (const [prefix, spellings] of [
    ['/.sessioncap/', ['/.SESSIONCAP/', '/.SessionCap/']],
    ['/_Account/', ['/_account/', '/_ACCOUNT/', '/_Account/']]
  ] as const) {
    const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { prefix: ${prefix} }\n` })
    const before = h.app.requests
    for (const spelled of spellings) {
      const sessions = await h.device('browser').send(`${spelled}sessions`)
      t.equal(sessions.status, 200, `${spelled}sessions is the sessions page`)
      t.match(sessions.text, /You are not signed in/)
      t.equal(sessions.headers['x-frame-options'], 'DENY', 'with the pages\' headers')
      t.equal((await h.device('browser').send(`${spelled}no-such-page`, { method: 'POST' })).status, 404, `${spelled}no-such-page: the gateway's 404`)
    }
    t.equal(h.app.requests, before, `under ${prefix}, in any case, nothing reached the app`)
  }
})

t.test('the session check knows a re-cased prefix for the pages', async (t) => {
  // policy ask: a waiting session reaches the pages and nothing else.
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  const phone = h.device('browser')
  t.equal((await phone.formLogin('alice')).headers.location, '/.sessioncap/choose?next=%2F', 'the phone waits for a choice')
  t.equal((await phone.send('/.SessionCap/not-a-page')).status, 404, 'under the re-cased prefix: a page (the 404 of the pages), not a redirect to the chooser')
  const chooser = await phone.send('/.SESSIONCAP/choose?next=%2F')
  t.equal(chooser.status, 200, 'the chooser itself, under the re-cased prefix')
  t.match(chooser.text, /Too many devices signed in/)
  t.equal((await phone.send('/Somewhere')).status, 303, 'outside the prefix, the waiting session is still sent to the chooser')

  // The signed-out page never refuses a cookie, whatever the prefix's case.
  const h2 = await startHarness(t, { yaml: APP_ROUTES })
  const old = h2.device('browser')
  await old.formLogin('alice')
  await h2.device('browser').formLogin('alice')
  t.equal((await old.send('/')).status, 303, 'the first device\'s session has ended')
  const ended = await old.send('/.SESSIONCAP/ended')
  t.equal(ended.status, 200, 'its browser, ended cookie and all, still gets the signed-out page')
  t.match(ended.text, /You have been signed out/)
})

t.test('the signed-out page says only what its signed note says', async (t) => {
  const h = await startHarness(t, { yaml: APP_ROUTES })
  const plain = await h.device('browser').send('/.sessioncap/ended')
  t.match(plain.text, /<h1>You have been signed out<\/h1>/)
  t.match(plain.text, /This session has ended\./)
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  await h.device('browser').send('/admin/login/', { form: { username: 'alice', password: 'x' }, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' } })
  const ended = await laptop.send('/')
  const location = String(ended.headers.location)
  const real = await h.device('browser').send(location)
  t.match(real.text, /Firefox 128 on Linux/)
  const note = new URL(location, h.base).searchParams.get('n') ?? ''
  const [payload, signature] = note.split('.')
  const forged = Buffer.from(JSON.stringify(['concurrent_login_limit', 0, 'Call +1 555 0100 to unlock your account', ''])).toString('base64url')
  for (const n of [`${forged}.${signature ?? ''}`, `${payload ?? ''}.AAAA`, 'x'.repeat(5000), '%00']) {
    const r = await h.device('browser').send(`/.sessioncap/ended?n=${n}`)
    t.equal(r.status, 200)
    t.notMatch(r.text, /555|Firefox/, 'a note it did not sign shows nothing of it')
  }
  t.equal((await h.device('browser').send('/.sessioncap/ended?n=a&n=b')).status, 200, 'a repeated parameter is no note')
})

t.test('ended.redirect replaces the signed-out page, with the reason', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}ended: { redirect: "https://sso.example/login?why={reason}#top" }\n` })
  const laptop = h.device('browser')
  await laptop.formLogin('alice')
  await h.device('browser').formLogin('alice')
  const r = await laptop.send('/')
  t.equal(r.headers.location, 'https://sso.example/login?why=concurrent_login_limit#top')
  const page = await h.device('browser').send('/.sessioncap/sessions')
  t.match(String(page.headers['content-security-policy']), /form-action 'self' https:\/\/sso\.example;/, 'the pages may send a cancelled sign-in there')
})

t.test('a template folder replaces the templates it has, and keeps the others', async (t) => {
  const dir = t.testdir({
    'ended.html': '<h1>{{heading}}</h1><p class="own">Signed out. {{explanation}} <a href="{{signIn}}">Back</a></p>',
    'style.css': 'body{color:{{accent}}}',
    'README.txt': 'not a template'
  })
  const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { templates: "${dir}", title: "<Acme & Co>" }\n` })
  const ended = await h.device('browser').send('/.sessioncap/ended')
  t.match(ended.text, /<p class="own">Signed out\. This session has ended\. <a href="\/admin\/login\/">Back<\/a><\/p>/)
  t.match(ended.text, /<style>body\{color:#2563eb\}<\/style>/)
  t.match(ended.text, /<title>You have been signed out · &lt;Acme &amp; Co&gt;<\/title>/, 'the title is escaped')
  const sessions = await h.device('browser').send('/.sessioncap/sessions')
  t.match(sessions.text, /You are not signed in/, 'the built-in sessions page')
})

t.test('a wrong template folder, prefix or timeout is a configuration error', async (t) => {
  const dir = t.testdir({ 'choose.html': '{{#open}} never closed', 'chooser.html': 'x' })
  const problems = (yaml: string): string => {
    try {
      loadConfigText(`upstream: http://127.0.0.1:1\n${APP_ROUTES}${yaml}`, 'x.yaml', {})
      return ''
    } catch (err) {
      return (err as Error).message
    }
  }
  const bad = problems(`pages: { templates: "${dir}" }\n`)
  t.match(bad, /pages\.templates: choose\.html: Unclosed section "open"/)
  t.match(bad, /; chooser\.html is not a template sessioncap uses \(expected any of layout\.html, style\.css, choose\.html, sessions\.html, ended\.html\)/)
  t.match(problems(`pages: { templates: "${join(dir, 'nope')}" }\n`), /pages\.templates: no such folder/)
  t.match(problems('pages: { prefix: /admin/ }\n'), /login\[0\]\.path: is under pages\.prefix \(\/admin\/\)/)
  t.match(problems('pages: { prefix: /Admin/ }\n'), /login\[0\]\.path: is under pages\.prefix \(\/Admin\/\)/, 'in any case')
  t.match(problems('pages: { prefix: sessioncap }\n'), /pages\.prefix: expected a path that starts and ends with \//)
  t.match(problems('pages: { accent: "red; } body { display: none" }\n'), /pages\.accent: expected a colour such as #2563eb/)
  t.match(problems('ask: { timeout: 0s }\n'), /ask\.timeout: expected a duration longer than 0s/)
  t.match(problems('ask: { fallback: ask }\n'), /ask\.fallback: expected one of evict-idlest, evict-oldest, reject-new/)
  t.match(problems('pages: { signIn: //evil.example }\n'), /pages\.signIn: expected the path/)
})

t.test('pages.ip decides what is kept of the address', async (t) => {
  for (const [mode, shown] of [['full', '127.0.0.1'], ['hidden', undefined], ['approximate', '127.0.0.x']] as const) {
    const h = await startHarness(t, { yaml: `${APP_ROUTES}pages: { ip: ${mode} }\n` })
    await h.device('browser').formLogin('alice')
    t.equal((await h.gateway.store.sessionsOf('alice', h.clock.now()))[0]?.ip, shown, mode)
  }
})
