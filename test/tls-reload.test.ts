import t from 'tap'
import { copyFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:tls'
import { Agent, request } from 'undici'
import { APP_ROUTES } from './helpers/harness.js'
import { makeCertificate } from './helpers/certificates.js'
import { startGatewayProcess } from './helpers/gateway-process.js'
import { cli } from './helpers/cli.js'
import { startLegacyApp } from './fixtures/legacy-app.mjs'

// A renewed certificate is picked up on SIGHUP, for new connections, without
// a restart; a broken one changes nothing and the log says why. The compiled
// CLI in its own process, real signals, real TLS handshakes.

/** The certificate a new TLS connection to the port is served (SHA-256 fingerprint). */
async function servedFingerprint (base: string, ca: Buffer[]): Promise<string> {
  const url = new URL(base)
  return await new Promise<string>((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca, servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256)
      socket.end()
    })
    socket.once('error', reject)
  })
}

t.test('SIGHUP: a renewed certificate is served to new connections; a broken one keeps the old and says why', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const dir = t.testdir()
  const first = makeCertificate(dir, 'first', 'first')
  const renewed = makeCertificate(dir, 'renewed', 'renewed')
  const served = { cert: `${dir}/served.crt`, key: `${dir}/served.key` }
  copyFileSync(first.cert, served.cert)
  copyFileSync(first.key, served.key)
  const gw = await startGatewayProcess(t, `upstream: ${app.url}\n${APP_ROUTES}`, { listen: `tls: { cert: ${served.cert}, key: ${served.key} }` })
  const ca = [first.pem, renewed.pem]
  t.match(gw.output(), /"fingerprint":"[0-9A-F:]+"[^\n]*"msg":"serving TLS with this certificate"/, 'the log names the certificate served')
  t.equal(await servedFingerprint(gw.base, ca), first.fingerprint)

  // An HTTPS request through the gateway, on a connection kept alive across the renewal.
  const agent = new Agent({ connect: { ca } })
  t.teardown(async () => { await agent.close() })
  t.equal((await request(`${gw.base}/`, { dispatcher: agent })).statusCode, 200)

  // A SIGHUP with the same files changes nothing, and says so.
  let mark = gw.output().length
  gw.child.kill('SIGHUP')
  await gw.waitFor(/"msg":"TLS certificate read again: unchanged"/, mark)

  // Renewal: the new files in place (as certbot or cert-manager write them), then SIGHUP.
  copyFileSync(renewed.key, served.key)
  copyFileSync(renewed.cert, served.cert)
  mark = gw.output().length
  gw.child.kill('SIGHUP')
  await gw.waitFor(/"msg":"TLS certificate reloaded: new connections get this one"/, mark)
  t.match(gw.output().slice(mark), new RegExp(`"previous":"${first.fingerprint}"[^\\n]*"fingerprint":"${renewed.fingerprint}"`))
  t.equal(await servedFingerprint(gw.base, ca), renewed.fingerprint, 'a new connection gets the renewed certificate')
  const answer = await request(`${gw.base}/`, { dispatcher: agent })
  t.equal(answer.statusCode, 200, 'the connection made before the renewal goes on')
  await answer.body.dump()

  // Broken renewals: each is refused, the renewed certificate stays, the log says why.
  const broken: Array<[string, () => void, RegExp]> = [
    ['a key that is not the certificate\'s', () => { copyFileSync(first.key, served.key) }, /listen\.tls\.key[^\n]*is not the key of the certificate in/],
    ['a certificate file cut short', () => { copyFileSync(renewed.key, served.key); writeFileSync(served.cert, '-----BEGIN CERTIFICATE-----\nMIIB\n') }, /listen\.tls\.cert[^\n]*is not a readable certificate/],
    ['a missing key', () => { copyFileSync(renewed.cert, served.cert); rmSync(served.key) }, /listen\.tls\.key[^\n]*no such file/]
  ]
  for (const [what, breakIt, why] of broken) {
    breakIt()
    mark = gw.output().length
    gw.child.kill('SIGHUP')
    await gw.waitFor(/"msg":"TLS certificate not reloaded, the one served stays in force: [^"]+"/, mark)
    t.match(gw.output().slice(mark), why, `${what}: the log says why`)
    t.equal(await servedFingerprint(gw.base, ca), renewed.fingerprint, `${what}: the renewed certificate is still served`)
  }
  t.equal(gw.child.exitCode, null, 'still running')
  // Its configuration was reloaded on each SIGHUP all the same.
  t.match(gw.output(), /"msg":"configuration reloaded: nothing changed"/)
})

t.test('a certificate that does not fit its key stops the start, at listen.tls.key, exit 2', async (t) => {
  const dir = t.testdir()
  const a = makeCertificate(dir, 'a')
  const b = makeCertificate(dir, 'b')
  writeFileSync(`${dir}/gw.yaml`, `upstream: http://127.0.0.1:9\nlisten: { host: 127.0.0.1, port: 0, tls: { cert: ${a.cert}, key: ${b.key} } }\n${APP_ROUTES}`)
  const run = await cli(['--config', `${dir}/gw.yaml`])
  t.equal(run.code, 2)
  t.match(run.stderr, /gw\.yaml:2:\d+: listen\.tls\.key: .*b\.key is not the key of the certificate in .*a\.crt/)
})
