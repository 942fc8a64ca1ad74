import t from 'tap'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { bytes, getWithCookie, utf8 } from './helpers/raw-cookie.js'

/**
 * Issue #12: an ended session re-spelled so that the gateway's reading of the
 * Cookie header misses it while some framework's reading finds it. Each case
 * names the re-spelling and who reads it; every one of them reached the app
 * before the gateway judged every framework's reading.
 */

/** alice signs in on a laptop, then on a phone (limit 1): the laptop's session is ended. */
async function endedCookie (h: Harness): Promise<string> {
  const laptop = h.device()
  await laptop.formLogin('alice')
  const cookie = laptop.sessionCookie as string
  h.clock.advance(60_000)
  await h.device().formLogin('alice')
  return cookie
}

t.test('an ended cookie re-spelled as some framework still reads it is refused before the app', async (t) => {
  const h = await startHarness(t)
  const E = await endedCookie(h)
  const cases: Array<[string, Buffer]> = [
    // Django under WSGI decodes the header as UTF-8 and str.strip()s name and value.
    ['U+2000 (UTF-8) before the value (Django, WSGI)', bytes('sessionid=', utf8('\u2000'), E)],
    ['U+3000 (UTF-8) after the value (Django, WSGI)', bytes('sessionid=', E, utf8('\u3000'))],
    ['U+00A0 (UTF-8) before the value (Django, WSGI)', bytes('sessionid=', utf8('\u00a0'), E)],
    ['U+0085 (UTF-8) after the value (Django, WSGI)', bytes('theme=dark; sessionid=', E, utf8('\u0085'))],
    ['U+2028 (UTF-8) before the name (Django, WSGI)', bytes(utf8('\u2028'), 'sessionid=', E)],
    // Django under ASGI reads the bytes as Latin-1: str.strip() still takes 0x85 and 0xA0.
    ['raw 0x85 byte after the value (Django, ASGI)', bytes('sessionid=', E, '\x85')],
    ['raw 0x85 byte before the name (Django, ASGI)', bytes('theme=dark;\x85sessionid=', E)],
    // A lone 0xA0 the gateway's own reading trims already; with 0x85 after it, it does not.
    ['raw 0xA0 and 0x85 bytes before the value (Django, ASGI; jshttp/cookie 0.6 trims 0xA0)', bytes('sessionid=\xa0\x85', E)],
    ['a quoted value with no closing quote (Tomcat 9 and 10.1)', bytes('sessionid="', E)],
    ['an RFC 2109 header, cookies separated by commas (Tomcat 9)', bytes('$Version=1, theme=dark, sessionid=', E)],
    ['commas between cookies (ASP.NET Core, Tomcat legacy, SimpleCookie)', bytes('theme=dark, sessionid=', E)],
    ['a pair that fails to parse, then name=value (ASP.NET Core resynchronises)', bytes('broken"sessionid=', E)],
    ['white space between cookies (Python SimpleCookie)', bytes('theme=dark sessionid=', E)],
    ['a value cut at an HTTP separator (Tomcat legacy)', bytes('sessionid=', E, ':tail')],
    ['a value starting with a quote loses its first and last characters (jshttp/cookie 0.6)', bytes('sessionid="', E, 'x')],
    ['a percent-encoded name (PHP before 7.4.11, Rack before 2.2.3)', bytes('%73essionid=', E)],
    ['a percent-encoded letter inside the name (PHP before 7.4.11, Rack before 2.2.3)', bytes('theme=dark; sessi%6Fnid=', E)],
    ['a name starting with + (PHP before 7.4.11: a space, then dropped)', bytes('+sessionid=', E)]
  ]
  for (const [name, cookie] of cases) {
    const before = h.app.requests
    const r = await getWithCookie(h.base, '/api/me', cookie)
    t.equal(r.status, 401, `${name}: refused`)
    t.match(r.body, /"error":"session_ended"/, `${name}: with the ended answer`)
    t.equal(h.app.requests, before, `${name}: the app never saw it`)
  }
  t.notOk(h.logs.some((l) => l.includes(E)), 'the ended value is never logged')
})

t.test('an ended session id re-spelled in the URL as PHP reads it is refused, and masked in the logs', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}log: { level: info, requests: true }\n` })
  const E = await endedCookie(h)
  const cases: Array<[string, string]> = [
    ['a percent-encoded query name (PHP $_GET)', `/api/me?%73essionid=${E}`],
    ['a query name starting with + (PHP $_GET: a space, then dropped)', `/api/me?+sessionid=${E}`],
    ['a percent-encoded letter in a later query name', `/api/me?a=1&session%69d=${E}`]
  ]
  for (const [name, path] of cases) {
    const before = h.app.requests
    const r = await getWithCookie(h.base, path, undefined)
    t.equal(r.status, 401, `${name}: refused`)
    t.equal(h.app.requests, before, `${name}: the app never saw it`)
  }
  t.notOk(h.logs.some((l) => l.includes(E)), 'the id never appears in a log line')
  t.ok(h.logs.some((l) => l.includes('%73essionid=[redacted]')), 'the URL is logged with the id masked')
})

t.test('a logged-out cookie is taken out as every framework reads it, not only as the gateway does', async (t) => {
  const h = await startHarness(t)
  const d = h.device()
  await d.formLogin('alice')
  const L = d.sessionCookie as string
  await d.send('/admin/logout/', { method: 'POST' })
  // ASP.NET Core splits at the comma and reads the second spelling as well.
  const r = await getWithCookie(h.base, '/echo', bytes(`theme=dark; sessionid=${L}; lang=en, sessionid=${L}`))
  t.equal(r.status, 200, 'the request goes on (the device moved on: no refusal)')
  const received = (JSON.parse(r.body) as { headers: { cookie?: string } }).headers.cookie
  t.equal(received, 'theme=dark', 'both pieces that read as the logged-out session are gone')
})

t.test('a header carrying only a live session, re-spelled, is not refused', async (t) => {
  const h = await startHarness(t)
  const d = h.device()
  await d.formLogin('alice')
  const live = d.sessionCookie as string
  for (const cookie of [bytes('sessionid=', utf8('\u3000'), live), bytes('theme=dark, sessionid=', live), bytes('sessionid="', live)]) {
    const r = await getWithCookie(h.base, '/echo', cookie)
    t.equal(r.status, 200, cookie.toString('latin1').replace(live, 'LIVE'))
  }
})

t.test('more session ids under all the readings than a request may carry are refused', async (t) => {
  const h = await startHarness(t)
  // Each piece reads three ways ("vN" as written, vN without its opening quote, v without the last character).
  const cookie = Array.from({ length: 6 }, (_, i) => `sessionid="v${i}x`).join('; ')
  const before = h.app.requests
  const r = await getWithCookie(h.base, '/echo', bytes(cookie))
  t.equal(r.status, 400)
  t.match(r.body, /SESSIONCAP_ERR_TOO_MANY_SESSION_COOKIES/)
  t.equal(h.app.requests, before)
})

t.test('a weird header naming the session cookie in more pieces than a browser sends is refused unread', async (t) => {
  const h = await startHarness(t)
  const cookie = `a=1, b=2; ${Array.from({ length: 40 }, () => 'sessionid=same').join('; ')}`
  const r = await getWithCookie(h.base, '/echo', bytes(cookie))
  t.equal(r.status, 400)
  t.match(r.body, /SESSIONCAP_ERR_TOO_MANY_SESSION_COOKIES/)
  const plain = await getWithCookie(h.base, '/echo', bytes(Array.from({ length: 40 }, () => 'sessionid=same').join('; ')))
  t.equal(plain.status, 200, 'as browsers spell it, one value forty times is one value')
})
