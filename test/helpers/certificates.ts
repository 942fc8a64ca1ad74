import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/** A self-signed certificate made for a test (never the network): its files, its PEM and its fingerprint. */
export interface TestCertificate {
  cert: string
  key: string
  /** The certificate's PEM: a client's `ca` to trust it. */
  pem: Buffer
  /** SHA-256, as a TLS socket's `getPeerCertificate().fingerprint256` names it. */
  fingerprint: string
}

const INSTALL_HINT = 'openssl is not installed: the TLS tests make their certificates with it. Install it with `sudo apt-get install openssl`; `.ci/run` does this by itself.'

/**
 * Makes a self-signed certificate for localhost and 127.0.0.1 with Debian's
 * `openssl` (an EC P-256 key: quick to make), as `NAME.crt` and `NAME.key`
 * in `dir`.
 */
export function makeCertificate (dir: string, name: string, commonName = 'sessioncap test'): TestCertificate {
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'
  ], { encoding: 'utf8' })
  if (r.error !== undefined) throw new Error(INSTALL_HINT)
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`)
  const pem = readFileSync(cert)
  return { cert, key, pem, fingerprint: new X509Certificate(pem).fingerprint256 }
}
