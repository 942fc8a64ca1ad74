import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { createServer } from 'node:tls'
import { pino } from 'pino'
import { readCertificatePair } from '../src/listen/certificates.js'
import { ServedCertificate } from '../src/listen/served-certificate.js'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { makeCertificate, type TestCertificate } from './helpers/certificates.js'
import { cli } from './helpers/cli.js'
import { loadConfigText } from '../src/config/load.js'
import { ConfigError, formatProblem } from '../src/config/problem.js'

// sessioncap serving HTTPS itself (listen.tls): real TLS over loopback, with
// a certificate the test makes (openssl, no network), in front of the
// stand-in app. The gateway's own cookies follow the scheme the client used.

const MIN = 60_000

function certificate (t: Test, name = 'gateway'): TestCertificate {
  return makeCertificate(t.testdir(), name)
}

async function httpsGateway (t: Test, cert: TestCertificate, yaml = APP_ROUTES): Promise<Harness> {
  return await startHarness(t, { yaml, listen: `tls: { cert: ${cert.cert}, key: ${cert.key} }`, ca: cert.pem })
}

/** The gateway's own Set-Cookie headers: the clearing ones (`name=;`), every watched cookie. */
function clearing (setCookies: string[]): string[] {
  return setCookies.filter((c) => /^(sessionid|remember_me)=;/.test(c))
}

t.test('HTTPS: a second login with limit 1 ends the first; the gateway\'s answers and cookies are for HTTPS', async (t) => {
  const cert = certificate(t)
  const h = await httpsGateway(t, cert)
  t.match(h.base, /^https:\/\/127\.0\.0\.1:\d+$/, 'the proxied port speaks HTTPS')

  const first = h.device('browser')
  const signIn = await first.formLogin('alice')
  t.equal(signIn.status, 302, 'the app\'s login answer, through TLS')
  t.match(signIn.setCookies, [/^sessionid=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Lax$/], 'the app\'s own cookie passes untouched (no Secure added to it)')
  const echo = await first.send('/echo')
  t.equal((echo.json() as { headers: Record<string, string> }).headers['x-forwarded-proto'], 'https', 'the app is told the client used HTTPS')
  h.clock.advance(MIN)
  const second = h.device('browser')
  t.equal((await second.formLogin('alice')).status, 302)
  t.equal(await second.whoami(), 'alice')

  // The ended browser: a 303 to the signed-out page, its cookies cleared with Secure.
  const ended = await first.send('/')
  t.equal(ended.status, 303)
  const location = String(ended.headers.location)
  t.match(location, /^\/\.sessioncap\/ended\?n=/, 'a relative redirect: the browser stays on https')
  const cleared = clearing(ended.setCookies)
  t.equal(cleared.length, 2, 'the session cookie and remember_me')
  for (const c of cleared) t.match(c, /; Secure(;|$)/, `Secure: ${c.split(';')[0] ?? ''}`)
  t.equal(first.sessionCookie, undefined, 'the browser dropped it')

  const page = await first.send(location)
  t.equal(page.status, 200, 'the signed-out page, over HTTPS')
  t.match(page.text, /signed in elsewhere|another device/i)

  // A client that is not a browser: 401 with the reason, cookies cleared with Secure too.
  const api = h.device('api')
  api.jar.set('sessionid', second.sessionCookie as string)
  h.clock.advance(MIN)
  await h.device('browser').formLogin('alice')
  const refused = await api.send('/api/me')
  t.equal(refused.status, 401)
  t.same(refused.json(), { error: 'session_ended', code: 'SESSIONCAP_ERR_SESSION_ENDED', reason: 'concurrent_login_limit' })
  t.ok(clearing(refused.setCookies).every((c) => /; Secure(;|$)/.test(c)) && clearing(refused.setCookies).length > 0, 'Secure on the API answer\'s clearing cookies')
})

t.test('plain HTTP: the gateway\'s cookies carry no Secure (a browser would ignore them there)', async (t) => {
  const h = await startHarness(t)
  const first = h.device('browser')
  await first.formLogin('alice')
  h.clock.advance(MIN)
  await h.device('browser').formLogin('alice')
  const ended = await first.send('/')
  t.equal(ended.status, 303)
  t.ok(clearing(ended.setCookies).length > 0)
  for (const c of clearing(ended.setCookies)) t.notMatch(c, /Secure/, c)
})

t.test('behind a trusted proxy, X-Forwarded-Proto: https counts as HTTPS; from anyone else it does not', async (t) => {
  for (const [trust, secure] of [['true', true], ['false', false], ['[10.0.0.0/8]', false]] as const) {
    await t.test(`proxy.trustProxy: ${trust}`, async (t) => {
      const h = await startHarness(t, { yaml: `${APP_ROUTES}proxy: { trustProxy: ${trust} }\n`, deviceHeaders: { 'x-forwarded-proto': 'https' } })
      const first = h.device('browser')
      await first.formLogin('alice')
      h.clock.advance(MIN)
      await h.device('browser').formLogin('alice')
      const cleared = clearing((await first.send('/')).setCookies)
      t.ok(cleared.length > 0)
      for (const c of cleared) {
        if (secure) t.match(c, /; Secure(;|$)/, c)
        else t.notMatch(c, /Secure/, c)
      }
    })
  }
})

t.test('an expired certificate is served all the same (refusing to start would take the site down), with a warning', async (t) => {
  const cert = certificate(t)
  const lines: string[] = []
  const log = pino({ level: 'info' }, new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } }))
  const server = createServer()
  const pair = readCertificatePair({ cert: cert.cert, key: cert.key })
  // openssl 3.0 cannot make a certificate that is already expired: its date is moved instead.
  const served = new ServedCertificate({ cert: cert.cert, key: cert.key }, { ...pair, notAfter: new Date(Date.now() - 1000) }, server, log)
  t.equal(served.fingerprint, cert.fingerprint)
  t.match(lines.join(''), /"level":40[^\n]*"msg":"the TLS certificate has expired: browsers will refuse it"/)
})

t.test('sessioncap check: the certificate files exist, parse, and belong together', async (t) => {
  const dir = t.testdir({ 'not-pem.crt': 'hello\n', 'encrypted.key': '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n' })
  const a = makeCertificate(dir, 'a')
  const b = makeCertificate(dir, 'b')
  const config = (listen: string): string => `upstream: http://127.0.0.1:9\nlisten: { port: 8443, ${listen} }\n${APP_ROUTES}`
  const problems = (text: string): string[] => {
    try {
      loadConfigText(text, 'gw.yaml')
      return []
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      return err.problems.map(formatProblem)
    }
  }

  t.same(problems(config(`tls: { cert: ${a.cert}, key: ${a.key} }, http2: true`)), [], 'a certificate and its key')
  const cases: Array<[string, string, RegExp]> = [
    ['a missing file', `tls: { cert: ${dir}/nowhere.crt, key: ${a.key} }`, /^gw\.yaml:2:\d+: listen\.tls\.cert: no such file: .*nowhere\.crt$/],
    ['a file that is not PEM', `tls: { cert: ${dir}/not-pem.crt, key: ${a.key} }`, /^gw\.yaml:2:\d+: listen\.tls\.cert: .*not-pem\.crt holds no PEM certificate/],
    ['a certificate as the key', `tls: { cert: ${a.cert}, key: ${a.cert} }`, /^gw\.yaml:2:\d+: listen\.tls\.key: .*a\.crt is not a PEM private key/],
    ['another certificate\'s key', `tls: { cert: ${a.cert}, key: ${b.key} }`, /^gw\.yaml:2:\d+: listen\.tls\.key: .*b\.key is not the key of the certificate in .*a\.crt \(CN=sessioncap test\)$/],
    ['an encrypted key', `tls: { cert: ${a.cert}, key: ${dir}/encrypted.key }`, /^gw\.yaml:2:\d+: listen\.tls\.key: .*encrypted\.key is encrypted/],
    ['no key', `tls: { cert: ${a.cert} }`, /^gw\.yaml:2:\d+: listen\.tls\.key: is required/],
    ['http2 without tls', 'http2: true', /^gw\.yaml:2:\d+: listen\.http2: needs listen\.tls/]
  ]
  for (const [what, listen, problem] of cases) {
    const found = problems(config(listen))
    t.equal(found.length, 1, `${what}: one problem`)
    t.match(found[0], problem, `${what}: ${found[0] ?? 'none'}`)
  }

  // The command itself: exit 2 and the problem's line, before anything listens.
  writeFileSync(`${dir}/bad.yaml`, config(`tls: { cert: ${a.cert}, key: ${b.key} }`))
  const bad = await cli(['check', '--config', `${dir}/bad.yaml`])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /bad\.yaml:2:\d+: listen\.tls\.key: .*is not the key of the certificate/)
  writeFileSync(`${dir}/good.yaml`, config(`tls: { cert: ${a.cert}, key: ${a.key} }, http2: true`))
  const good = await cli(['check', '--config', `${dir}/good.yaml`])
  t.equal(good.code, 0, good.stderr)
})
