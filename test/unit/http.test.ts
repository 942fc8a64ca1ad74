import t from 'tap'
import { normalizePath, normalizePathFully } from '../../src/http/path.js'
import { cookieValues } from '../../src/http/cookies.js'
import { withoutSessionPieces } from '../../src/http/cookie-strip.js'
import { parseSetCookie } from '../../src/http/set-cookie.js'
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

t.test('normalizePath: the fast path for plain paths agrees with the general one', async (t) => {
  const parts = ['a', 'B', '.', '..', '...', '', '%41', ';x=1', '.h', 'a.b', '~u', '?q=/../x', '#f', '\\', 'z']
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
  t.match(parseSetCookie('sessionid=abc; Path=/app; Domain=.example.com; Secure; HttpOnly; SameSite=Strict', NOW),
    { name: 'sessionid', value: 'abc', path: '/app', domain: '.example.com', secure: true, httpOnly: true, sameSite: 'Strict', clears: false })
  t.equal(parseSetCookie('sessionid=""; Path=/', NOW)?.clears, true, 'empty quoted value (Django)')
  t.equal(parseSetCookie('sessionid=; Path=/', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Max-Age=0', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Max-Age=-1', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT', NOW)?.clears, true)
  t.equal(parseSetCookie('sessionid=x; Expires=Thu, 01 Jan 2099 00:00:00 GMT', NOW)?.clears, false)
  t.equal(parseSetCookie('sessionid=x; Max-Age=3600; Expires=Thu, 01 Jan 1970 00:00:00 GMT', NOW)?.clears, false, 'Max-Age wins over Expires')
  t.equal(parseSetCookie('novalue', NOW), undefined)
  t.equal(parseSetCookie('=x', NOW), undefined)
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
