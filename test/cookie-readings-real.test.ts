import t, { type Test } from 'tap'
import fc from 'fast-check'
import { allSessionCookieValues, COOKIE_READINGS } from '../src/http/cookie-readings.js'
import { urlSessionValues } from '../src/http/cookies.js'
import { phpQuery } from '../src/http/readings/php.js'
import { isPythonSpace } from '../src/http/readings/text.js'
import { createSessionHasher } from '../src/http/session-hash.js'
import { hostileCookieHeader, hostileQuery } from './helpers/hostile-cookies.js'
import { jshttpReadings, phpReadings, pythonReadings, tomcatAvailable, tomcatReadings, type RealReadings } from './helpers/real-parsers.js'

/**
 * Differential tests: the real parsers that run here (Django's parse_cookie
 * and Python's SimpleCookie under WSGI and ASGI decodings, PHP 8's $_COOKIE
 * and $_GET, jshttp/cookie 2.x and 0.6, Tomcat 9's and 10.1's cookie
 * processors) over thousands of hostile headers, each parser run once over
 * all of them. For every header, each value a real parser hands the app for
 * the session cookie must be among the values our model of it produces, and
 * its session id among those the gateway judges.
 */

const NAME = 'sessionid'
const VALUES = ['s3ss10nA', 'Other-7z']
const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1')

// The re-spellings of issue #12, then generated ones (fixed seed).
const NAMED = [
  `sessionid=${utf8('\u3000')}s3ss10nA`, `sessionid=s3ss10nA${utf8('\u2028')}`, `${utf8('\u00a0')}sessionid=s3ss10nA`, 'sessionid=s3ss10nA\x85', 'sessionid=\xa0\x85s3ss10nA',
  'sessionid="s3ss10nA', '$Version=1, a=b, sessionid=s3ss10nA', '$Version=1; sessionid="s3ss10nA"; $Path=/', 'a=1, sessionid=s3ss10nA', 'broken"sessionid=s3ss10nA',
  'a=b c sessionid=s3ss10nA', 'a=1 sessionid=s3ss10nA', 'sessionid=s3ss10nA:x', 'sessionid=s3ss10nA=', 'sessionid="s3ss10nAx', '%73essionid=s3ss10nA', '+sessionid=s3ss10nA',
  'sessionid="s3ss10nA;x"', 'sessionid="\\1633ss10nA"', 'sessionid="s3ss\\"10nA"', 'sessionid = "s3ss10nA" ; a=b', 'sessionid=s3ss10nA\t;x=1', 'x=1;sessionid=s3ss10nA;;sessionid=Other-7z'
]
const GENERATED = fc.sample(hostileCookieHeader(NAME, VALUES), { seed: 1212, numRuns: 3000 })
const HEADERS = [...new Set([...NAMED, ...GENERATED])]
const QUERIES = [...new Set(['%73essionid=s3ss10nA', '+sessionid=s3ss10nA', 'a=1&session%69d=s3ss10nA', ...fc.sample(hostileQuery(NAME, VALUES), { seed: 1212, numRuns: 400 })])]

const hash = createSessionHasher('differential tests')
const readingOf = (id: string): (typeof COOKIE_READINGS)[number] => {
  const reading = COOKIE_READINGS.find((r) => r.id === id)
  if (reading === undefined) throw new Error(`no reading ${id}`)
  return reading
}
const show = (s: string): string => JSON.stringify(s)

/** For each header and reading: real values under NAME the model misses, or whose id the gateway does not judge. */
function compare (t: Test, real: readonly RealReadings[], ids: readonly string[]): void {
  const missed: string[] = []
  let checked = 0
  for (const [i, header] of HEADERS.entries()) {
    const gateway = new Set((allSessionCookieValues(header, NAME) ?? []).map(hash))
    for (const id of ids) {
      const found = real[i]?.[id]
      if (found === undefined) { missed.push(`${id}: no answer for ${show(header)}`); continue }
      const model = readingOf(id).read(header).filter((p) => p.name === NAME).map((p) => p.value)
      for (const [name, value] of found.cookies) {
        if (name !== NAME || value === null || value === '') continue
        checked++
        if (!model.includes(value)) missed.push(`${id}: model misses ${show(value)} in ${show(header)} (model: ${show(model.join(' | '))})`)
        if (!gateway.has(hash(value))) missed.push(`${id}: gateway does not judge ${show(value)} in ${show(header)}`)
      }
    }
  }
  t.ok(checked > 100, `${checked} session values handed to the app, each checked`)
  t.same(missed.slice(0, 20), [], `${HEADERS.length} headers: every value each parser hands the app is modelled and judged`)
}

t.test('Python: Django parse_cookie and SimpleCookie, under WSGI and ASGI', async (t) => {
  const { isspace, readings } = await pythonReadings(HEADERS)
  const ours: number[] = []
  for (let c = 0; c <= 0x10ffff; c++) if (isPythonSpace(c)) ours.push(c)
  t.same(ours, isspace, 'isPythonSpace is exactly str.isspace()')
  compare(t, readings, ['django-wsgi', 'django-asgi', 'simplecookie-wsgi', 'simplecookie-asgi'])
})

t.test('jshttp/cookie 2.x and 0.6', async (t) => {
  compare(t, jshttpReadings(HEADERS), ['jshttp-cookie', 'jshttp-cookie-0.6'])
})

t.test('Tomcat 9 (Rfc6265CookieProcessor, LegacyCookieProcessor) and 10.1 (Rfc6265CookieProcessor)', { skip: tomcatAvailable() ? false : 'Debian\'s libtomcat9-java and libtomcat10-java (and a JDK) are not installed' }, async (t) => {
  compare(t, await tomcatReadings(t, HEADERS), ['tomcat-9', 'tomcat-9-legacy', 'tomcat-10.1'])
})

t.test('PHP 8: $_COOKIE over HTTP, and $_GET', async (t) => {
  const requests = [...HEADERS.map((cookie) => ({ cookie })), ...QUERIES.map((query) => ({ query }))]
  const answers = await phpReadings(t, requests)
  compare(t, answers.slice(0, HEADERS.length).map((a) => ({ php: { cookies: a.cookie, error: null } })), ['php'])
  const missed: string[] = []
  for (const [i, query] of QUERIES.entries()) {
    const gateway = new Set(urlSessionValues(`/echo.php?${query}`, NAME).map(hash))
    const model = phpQuery(query).filter((p) => p.name === NAME).map((p) => p.value)
    for (const [name, value] of answers[HEADERS.length + i]?.get ?? []) {
      if (name !== NAME || value === null || value === '') continue
      if (!model.includes(value)) missed.push(`phpQuery misses ${show(value)} in ${show(query)}`)
      if (!gateway.has(hash(value))) missed.push(`urlSessionValues does not judge ${show(value)} in ${show(query)}`)
    }
  }
  t.same(missed.slice(0, 20), [], `${QUERIES.length} query strings: every $_GET session id is modelled and judged`)
})
