import t from 'tap'
import { normalizePath, normalizePathFully } from '../../src/http/path.js'
import { cookieValues } from '../../src/http/cookies.js'
import { withoutSessionPieces } from '../../src/http/cookie-strip.js'
import { parseSetCookie, type SetCookie } from '../../src/http/set-cookie.js'
import { parseCookieDate } from '../../src/http/cookie-date.js'
import { storeStep, type StoredCookie } from '../../src/http/browser-cookies.js'
import { prefersHtml } from '../../src/http/accept.js'
import { createHmac, randomBytes } from 'node:crypto'
import { createSessionHasher, hmacSha256 } from '../../src/http/session-hash.js'

const NOW = Date.UTC(2026, 5, 1)

t.test('normalizePath errs towards matching', async (t) => {
  const cases: Array<[string, string]> = [
    ['/admin/login/', '/admin/login'],
    ['/Admin/LOGIN', '/admin/login'],
    ['/admin//login///', '/admin/login'],
    ['/admin/%6Cogin', '/admin/login'],
    ['/admin/./x/../login', '/admin/login'],
    ['/admin/login;jsessionid=abc', '/admin/login'],
    ['/admin/login?next=/x#frag', '/admin/login'],
    ['/admin\\login', '/admin/login'],
    ['/../../etc', '/etc'],
    ['/%zz/a%2', '/%zz/a%2'],
    ['/', '/'],
    ['', '/']
  ]
  for (const [input, out] of cases) t.equal(normalizePath(input), out, input)
})

t.test('normalizePath: trailing dots and spaces of a segment are dropped, as IIS (Windows) does', async (t) => {
  const cases: Array<[string, string]> = [
    ['/login.', '/login'],
    ['/login%20', '/login'],
    ['/login.%20.', '/login'],
    ['/login . .. ', '/login'],
    ['/admin/login./', '/admin/login'],
    ['/admin/login%20/', '/admin/login'],
    ['/admin./login', '/admin/login'],
    ['/admin%20/login.%2e', '/admin/login'],
    ['/admin/login.;jsessionid=x', '/admin/login'],
    ['/admin/login./?next=/', '/admin/login'],
    ['/ADMIN/Login.', '/admin/login'],
    // Not confused with the format suffix, before or after it.
    ['/login.json', '/login'],
    ['/login.json.', '/login'],
    ['/login./.json', '/login'],
    ['/login.json%20', '/login'],
    // `.` and `..` are resolved first; a segment of dots and spaces only is a name trimmed to nothing, not a parent.
    ['/admin/x/../login.', '/admin/login'],
    ['/admin/.../login', '/admin/login'],
    ['/admin/.. /login', '/admin/login'],
    ['/admin/. /login', '/admin/login'],
    ['/a/%20/b', '/a/b'],
    // Leading dots and inner spaces are part of the name.
    ['/.well-known/x', '/.well-known/x'],
    ['/log%20in', '/log in']
  ]
  for (const [input, out] of cases) t.equal(normalizePath(input), out, input)
})

t.test('normalizePath: the fast path for plain paths agrees with the general one', async (t) => {
  const parts = ['a', 'B', '.', '..', '...', '', '%41', ';x=1', '.h', 'a.b', '~u', '?q=/../x', '#f', '\\', 'z',
    'a.', 'a..', 'a.%20', 'a%20', '%20', '.%20', '..%20', 'a.json', 'a.json.', '.json', 'a.b.']
  let seed = 7
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  let checked = 0
  for (let i = 0; i < 5000; i++) {
    let path = ''
    for (let j = rand(5); j >= 0; j--) path += '/' + (parts[rand(parts.length)] as string)
    if (rand(3) === 0) path += '/'
    if (normalizePath(path) !== normalizePathFully(path)) t.fail(`${path}: ${normalizePath(path)} != ${normalizePathFully(path)}`)
    checked++
  }
  t.equal(checked, 5000)
})

t.test('cookieValues returns every value of the name, as sent', async (t) => {
  t.same(cookieValues('a=1; sessionid=x; b=2; sessionid=y', 'sessionid'), ['x', 'y'])
  t.same(cookieValues('xsessionid=1; sessionidx=2; sessionid = z ', 'sessionid'), ['z'])
  t.same(cookieValues('sessionid="quoted"', 'sessionid'), ['"quoted"'])
  t.same(cookieValues('sessionid=; sessionid', 'sessionid'), [], 'empty and valueless are not sessions')
  t.same(cookieValues(undefined, 'sessionid'), [])
  t.same(cookieValues('sessionid=a=b', 'sessionid'), ['a=b'])
})

t.test('withoutSessionPieces removes only the pieces that read as the named values', async (t) => {
  const dead = (v: string): boolean => v === 'dead'
  t.equal(withoutSessionPieces('a=1; sessionid=dead; sessionid=live; b', 'sessionid', dead), 'a=1; sessionid=live; b')
  t.equal(withoutSessionPieces('sessionid=dead', 'sessionid', dead), undefined)
  t.equal(withoutSessionPieces('a=1;  SESSIONID="dead" ;sessionid=live', 'sessionid', (v) => v === '"dead"' || v === 'dead'), 'a=1; sessionid=live', 'any spelling of the name')
  t.equal(withoutSessionPieces('a=1, sessionid=dead; b=2', 'sessionid', dead), 'b=2', 'a comma-separated cookie (ASP.NET, Tomcat) takes its piece with it')
  t.equal(withoutSessionPieces('sessionid=\xe3\x80\x80dead; b=2', 'sessionid', dead), 'b=2', 'a UTF-8 space Django strips')
})

t.test('parseSetCookie reads value, scope and whether it clears', async (t) => {
  t.match(parseSetCookie('sessionid=abc; Path=/app; Domain=.Example.com; Secure; HttpOnly; SameSite=Strict', NOW),
    { name: 'sessionid', value: 'abc', path: '/app', domain: 'example.com', secure: true, httpOnly: true, sameSite: 'Strict', clears: false })
  t.equal(parseSetCookie('sessionid=""; Path=/', NOW)?.clears, true, 'empty quoted value (Django)')
  t.equal(parseSetCookie('sessionid=; Path=/', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=; Path=/', NOW)?.expired, false, 'a browser keeps an empty cookie: not expired, but no session')
  t.equal(parseSetCookie('sessionid=x; Max-Age=0', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Max-Age=-1', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Max-Age=-0', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01 Jan 2099 00:00:00 GMT', NOW)?.clears, false)
  t.equal(parseSetCookie('sessionid=x; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT', NOW)?.clears, false, 'Max-Age wins over Expires')
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=3600', NOW)?.clears, false, 'wherever it stands')
  t.equal(parseSetCookie('sessionid=x; Max-Age=+5; Expires=Thu, 01 Jan 1970 00:00:00 GMT', NOW)?.clears, true, 'a Max-Age that is no number is ignored (§5.2.2): Expires counts')
  t.equal(parseSetCookie('sessionid=x; Max-Age=0; Max-Age=1.5', NOW)?.clears, true, 'an invalid later Max-Age does not undo a valid one')
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01-Jan-1970 00:00:01 CET', NOW)?.clears, true, 'Expires as a browser reads it, not Date.parse')
  t.equal(parseSetCookie('sessionid=x; Expires=never', NOW)?.clears, false, 'an Expires that is no date is ignored')
  t.equal(parseSetCookie('sessionid=x; Path=/a; Path=', NOW)?.path, undefined, 'a later Path that is not a path means the default path (§5.2.4)')
  t.equal(parseSetCookie('sessionid=x; Domain=a.example; Domain=', NOW)?.domain, 'a.example', 'an empty Domain is ignored (§5.2.3)')
  t.equal(parseSetCookie('novalue', NOW), undefined, 'nameless (RFC 6265bis): never a named cookie')
  t.equal(parseSetCookie('=x', NOW), undefined)
  t.equal(parseSetCookie('sessionid=a\x00b', NOW), undefined, 'a control character: browsers ignore the header (RFC 6265bis)')
  t.equal(parseSetCookie(`sessionid=${'x'.repeat(4096 - 9 + 1)}`, NOW), undefined, 'over 4096 octets of name and value')
  t.ok(parseSetCookie(`sessionid=${'x'.repeat(4096 - 9)}`, NOW), '4096 is still a cookie')
})

t.test('parseCookieDate: RFC 6265 §5.1.1, where Date.parse disagrees', async (t) => {
  const at = (s: string): number => Date.parse(s)
  t.equal(parseCookieDate('Thu, 01-Jan-1970 00:00:01 CET'), 1000, 'an unknown zone name is ignored')
  t.equal(parseCookieDate('Sat, 15-Apr-17 21:01:22 GMT-0400'), at('2017-04-15T21:01:22Z'), 'so is an offset')
  t.equal(parseCookieDate('22:50:12 Thu Apr 18 2007 GMT'), at('2007-04-18T22:50:12Z'), 'tokens in any order')
  t.equal(parseCookieDate('Wed, 01-Jan-69 00:00:00 GMT'), at('2069-01-01T00:00:00Z'), 'years 0-69 are 20xx')
  t.equal(parseCookieDate('Wed, 01-Jan-70 00:00:00 GMT'), 0, 'years 70-99 are 19xx')
  t.equal(parseCookieDate('Thu, 31-Apr-2025 00:00:00 GMT'), undefined, 'a day the month does not have')
  t.equal(parseCookieDate('Thu, 01-Jan-1600 00:00:00 GMT'), undefined, 'before 1601')
  t.equal(parseCookieDate('Thu, 01-Jan-2025 24:00:00 GMT'), undefined, 'hour 24')
  t.equal(parseCookieDate('Thu, 01-Jan-2025 GMT'), undefined, 'no time')
  t.equal(parseCookieDate(''), undefined)
})

t.test('storeStep: where a browser stores a Set-Cookie, or why it drops it', async (t) => {
  const at = { host: 'app.example.test', path: '/admin/login/' }
  const step = (h: string, req = at) => storeStep(parseSetCookie(h, NOW) as SetCookie, req)
  t.match(step('sessionid=x'), { kind: 'stored', path: '/admin/login' }, 'no Path: the default path (§5.1.4)')
  t.match(step('sessionid=x', { host: 'h', path: '/login' }), { kind: 'stored', path: '/' })
  t.match(step('sessionid=x; Path=nope'), { kind: 'stored', path: '/admin/login' })
  t.equal(step('sessionid=x').kind === 'stored' && step('sessionid=y; Path=/admin/login').kind === 'stored' &&
    (step('sessionid=x') as StoredCookie).key === (step('sessionid=y; Path=/admin/login') as StoredCookie).key, true, 'the default path and the same Path are one cookie')
  const hostOnly = step('sessionid=x; Path=/') as StoredCookie
  const domain = step('sessionid=x; Path=/; Domain=app.example.test') as StoredCookie
  t.not(hostOnly.key, domain.key, 'host-only and Domain cookies are two cookies')
  t.equal((step('sessionid=x; Path=/; Domain=.APP.example.test') as StoredCookie).key, domain.key, 'Domain: case and a leading dot do not matter')
  t.match(step('sessionid=x; Domain=example.test'), { kind: 'stored' }, 'a parent domain')
  t.match(step('sessionid=x; Domain=other.test'), { kind: 'ignored', why: 'domain' })
  t.match(step('sessionid=x; Domain=pp.example.test'), { kind: 'ignored', why: 'domain' }, 'not a label boundary')
  t.match(step('sessionid=x; Domain=0.0.1', { host: '127.0.0.1', path: '/' }), { kind: 'ignored', why: 'domain' }, 'no suffix match on an IP address')
  t.match(step('sessionid=x; Domain=other.test', { host: '', path: '/' }), { kind: 'stored' }, 'no Host: nothing to check against')
  t.match(step('__Secure-sid=x; Path=/'), { kind: 'ignored', why: 'prefix' })
  t.match(step('__Secure-sid=x; Path=/; Secure'), { kind: 'stored' })
  t.match(step('__Host-sid=x; Path=/; Secure'), { kind: 'stored' })
  t.match(step('__Host-sid=x; Secure', { host: 'h', path: '/' }), { kind: 'ignored', why: 'prefix' }, '__Host- needs a Path attribute')
  t.match(step('__Host-sid=x; Path=/a; Secure'), { kind: 'ignored', why: 'prefix' })
  t.match(step('__Host-sid=x; Path=/; Secure; Domain=app.example.test'), { kind: 'ignored', why: 'prefix' })
  t.match(step('__Host-sid=x; Path=/'), { kind: 'ignored', why: 'prefix' })
  t.match(step('__host-sid=x; Path=/'), { kind: 'stored' }, 'another spelling of the prefix: not every browser checks it')
})

t.test('prefersHtml: browsers navigating, not scripts', async (t) => {
  t.equal(prefersHtml({ accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }), true)
  t.equal(prefersHtml({ accept: '*/*' }), false)
  t.equal(prefersHtml({}), false)
  t.equal(prefersHtml({ accept: 'application/json, text/plain, */*' }), false)
  t.equal(prefersHtml({ accept: 'text/html;q=0.5, application/json' }), false)
})

t.test('session ids: the fast HMAC is exactly createHmac-SHA256 (ids must not change across versions)', async (t) => {
  const secrets: Array<string | Buffer> = [
    'bench-secret-0123456789abcdef0123456789abcdef', '', 'k', 'x'.repeat(64), 'y'.repeat(65), 'clé-ünïcode-🔑'.repeat(9),
    randomBytes(32), randomBytes(64), randomBytes(100)
  ]
  const values = ['', 'a', 'abc123', 'sessionid-value_with.chars~', 'é', '🔥 emoji', 'lone \ud800 surrogate', 'x'.repeat(2047), '€'.repeat(2048), '€'.repeat(2049), 'z'.repeat(20_000)]
  for (const secret of secrets) {
    const fast = hmacSha256(secret)
    for (const v of values) t.equal(fast(v), createHmac('sha256', secret).update(v).digest('base64url'), `secret of ${secret.length}, value of ${v.length}`)
    // Interleaved long and short values: the shared buffer never leaks one into the next.
    t.equal(fast('short'), createHmac('sha256', secret).update('short').digest('base64url'))
  }
  // A cookie's id: the first 22 characters, of the canonical value.
  const hash = createSessionHasher('s3cret')
  t.equal(hash('abc'), createHmac('sha256', 's3cret').update('abc').digest('base64url').slice(0, 22))
  t.equal(hash('%61bc'), hash('abc'), 'percent-decoded before hashing')
})
