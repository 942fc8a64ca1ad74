import t from 'tap'
import { request } from 'undici'
import { startHarness, type Harness } from './helpers/harness.js'
import { startDjango } from './helpers/frameworks.js'
import type { Answer, Device } from './helpers/client.js'

/**
 * The login guard in front of the real Django admin (Debian's python3-django,
 * `preset: django`): Django answers a wrong password by re-rendering the form
 * with 200, which the guard counts as a failure. Requests that reach Django
 * are counted in runserver's own request log.
 */
const TOKEN = 'admin-token-for-tests-0123456789'

async function djangoLogin (d: Device, user: string, password: string, ip: string): Promise<Answer> {
  const headers = { 'x-forwarded-for': ip }
  const page = await d.send('/admin/login/', { headers })
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  return await d.send('/admin/login/?next=/admin/', { form: { csrfmiddlewaretoken: token, username: user, password, next: '/admin/' }, headers })
}

async function admin (h: Harness, method: 'GET' | 'DELETE', path: string): Promise<{ status: number, json: unknown }> {
  const res = await request(`${h.gateway.adminAddress() ?? ''}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` } })
  return { status: res.statusCode, json: await res.body.json() }
}

t.test('Django admin: 5 wrong passwords block user+address, the 6th never reaches Django, another address still signs in, and the admin API lifts the block', async (t) => {
  const django = await startDjango(t)
  t.comment(`Django ${django.version}`)
  const posts = (): number => django.output().split('\n').filter((l) => /"POST \/admin\/login\//.test(l)).length
  // Django logs a request once it has answered it, through a pipe: its line can reach us a little after the answer.
  const postsOnce = async (n: number): Promise<number> => {
    const deadline = Date.now() + 10_000
    while (posts() < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    return posts()
  }
  const h = await startHarness(t, {
    upstream: django.url,
    yaml: `preset: django\nlimit: 1\nproxy: { trustProxy: [127.0.0.1] }\nadmin: { host: 127.0.0.1, port: 0, token: "${TOKEN}" }\n`
  })
  const attacker = h.device('browser')
  for (let i = 0; i < 5; i++) {
    const r = await djangoLogin(attacker, 'alice', 'not-her-password', '203.0.113.9')
    t.equal(r.status, 200, `wrong password ${i + 1}: Django re-renders the form`)
    t.match(r.text, /Please enter the correct username and password/)
  }
  t.equal(await postsOnce(5), 5, 'Django saw the 5 wrong passwords')
  const sixth = await djangoLogin(attacker, 'alice', 'pw-alice', '203.0.113.9')
  t.equal(sixth.status, 429, 'the 6th attempt from that address, even with the right password, is refused')
  t.match(sixth.text, /Too many sign-in attempts/)
  t.equal(posts(), 5, 'and never reached Django')

  const elsewhere = h.device('browser')
  t.equal((await djangoLogin(elsewhere, 'alice', 'pw-alice', '198.51.100.20')).status, 302, 'the right password from another address signs in')
  t.equal(await postsOnce(6), 6)
  const site = await elsewhere.send('/admin/', { headers: { 'x-forwarded-for': '198.51.100.20' } })
  t.match(site.text, /Site administration/)

  const listed = await admin(h, 'GET', '/blocks?address=203.0.113.9')
  t.match(listed.json, { total: 1, blocks: [{ counter: 'userNetwork' }] }, 'the admin API lists the block')
  t.equal((await admin(h, 'DELETE', '/blocks/users/alice')).status, 200, 'and lifts it')
  const after = await djangoLogin(attacker, 'alice', 'pw-alice', '203.0.113.9')
  t.equal(after.status, 302, 'once lifted, the address signs in again')
  t.equal(await postsOnce(7), 7)

  // Django decodes a form body by the charset its Content-Type names, and a
  // multipart part by its Content-Transfer-Encoding: bodies the gateway reads
  // as nobody (or as someone else) would sign alice in. Refused before Django.
  const ip = { 'x-forwarded-for': '198.51.100.30' }
  const browser = h.device('browser')
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec((await browser.send('/admin/login/', { headers: ip })).text)?.[1] ?? ''
  const utf16 = Buffer.from(new URLSearchParams({ csrfmiddlewaretoken: token, username: 'alice', password: 'pw-alice', next: '/admin/' }).toString(), 'utf16le')
  const decoded = await browser.send('/admin/login/?next=/admin/', { body: utf16, headers: { ...ip, 'content-type': 'application/x-www-form-urlencoded; charset=utf-16-le' } })
  t.equal(decoded.status, 400, 'a form body in UTF-16 (Django reads alice in it) is refused')
  t.match(decoded.text, /SESSIONCAP_ERR_LOGIN_BODY_MALFORMED/)
  const part = (name: string, value: string, head = ''): string => `--XyZ\r\nContent-Disposition: form-data; name="${name}"\r\n${head}\r\n${value}\r\n`
  const base64 = part('csrfmiddlewaretoken', token) + part('username', Buffer.from('alice').toString('base64'), 'Content-Transfer-Encoding: base64\r\n') + part('password', 'pw-alice') + '--XyZ--\r\n'
  const transferEncoded = await browser.send('/admin/login/?next=/admin/', { body: base64, headers: { ...ip, 'content-type': 'multipart/form-data; boundary=XyZ' } })
  t.equal(transferEncoded.status, 400, 'a base64 part (Django decodes it) is refused')
  t.equal(posts(), 7, 'neither reached Django')
  // With the boundary Chromium and Safari make (it holds "Boundary" itself).
  const webkit = '----WebKitFormBoundaryDQeKf1DtYAhJBX6h'
  const asBrowsers = base64.replace('Content-Transfer-Encoding: base64\r\n', '').replace(Buffer.from('alice').toString('base64'), 'alice').replaceAll('--XyZ', `--${webkit}`)
  const formed = await browser.send('/admin/login/?next=/admin/', { body: asBrowsers, headers: { ...ip, 'content-type': `multipart/form-data; boundary=${webkit}` } })
  t.equal(formed.status, 302, 'the same login as a browser sends it signs alice in')
  t.equal(await postsOnce(8), 8)
})
