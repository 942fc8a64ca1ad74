import t from 'tap'
import { startHarness } from './helpers/harness.js'
import { startDjango } from './helpers/frameworks.js'
import type { Answer, Device } from './helpers/client.js'
import { rawRequest } from './helpers/raw.js'
import { bytes, utf8 } from './helpers/raw-cookie.js'

/**
 * Issue #12 against the real Django admin (Debian's python3-django, under
 * runserver's WSGI): Django decodes the Cookie header as UTF-8 and
 * `str.strip()`s each value, so `sessionid=<U+3000><session>` is that
 * session. An ended one, so re-spelled, must not reach the admin site.
 */

async function djangoLogin (d: Device, user: string, password: string): Promise<Answer> {
  const page = await d.send('/admin/login/')
  const token = /name="csrfmiddlewaretoken" value="([^"]+)"/.exec(page.text)?.[1]
  if (token === undefined) throw new Error(`no CSRF token on the login page (${page.status})`)
  return await d.send('/admin/login/?next=/admin/', { form: { csrfmiddlewaretoken: token, username: user, password, next: '/admin/' } })
}

async function adminWithCookie (base: string, cookie: Buffer): Promise<{ status: number, body: string }> {
  const head = 'GET /admin/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/html\r\nConnection: close\r\nCookie: '
  return await rawRequest(base, bytes(head, cookie, '\r\n\r\n'))
}

t.test('Django admin: an ended session re-spelled with a Unicode space never reaches "Site administration"', async (t) => {
  const django = await startDjango(t)
  t.comment(`Django ${django.version}`)
  const h = await startHarness(t, { upstream: django.url, yaml: 'preset: django\nlimit: 1\n' })
  const laptop = h.device('browser')
  t.equal((await djangoLogin(laptop, 'alice', 'pw-alice')).status, 302)
  const ended = laptop.sessionCookie as string
  h.clock.advance(60_000)
  const phone = h.device('browser')
  t.equal((await djangoLogin(phone, 'alice', 'pw-alice')).status, 302)
  const live = phone.sessionCookie as string

  const alive = await adminWithCookie(h.base, bytes('sessionid=', utf8('\u3000'), live))
  t.equal(alive.status, 200, 'Django reads the re-spelled live session (strips U+3000): the re-spelling works')
  t.match(alive.body, /Site administration/)

  for (const space of ['\u3000', '\u2000', '\u00a0', '\u2028']) {
    const r = await adminWithCookie(h.base, bytes('sessionid=', utf8(space), ended))
    t.not(r.status, 200, `U+${space.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}: refused`)
    t.notMatch(r.body, /Site administration/, 'the admin site never answered')
  }
})
