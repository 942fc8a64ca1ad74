import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import type { TlsConfig } from '../config/schema.js'

/** A certificate and its key, read and checked: what the TLS listener serves. */
export interface CertificatePair {
  /** The certificate file as read: the certificate, then the chain it may carry. */
  readonly cert: Buffer
  readonly key: Buffer
  /** SHA-256 fingerprint of the certificate (as `openssl x509 -fingerprint -sha256` prints it): the log tells which one is served. */
  readonly fingerprint: string
  readonly subject: string
  readonly notAfter: Date
}

/** Which file is wrong: the problem is reported at `listen.tls.cert` or `listen.tls.key`. */
export class CertificateProblem extends Error {
  readonly at: 'cert' | 'key'
  constructor (at: 'cert' | 'key', message: string) {
    super(message)
    this.at = at
    this.name = 'CertificateProblem'
  }
}

/**
 * Reads `listen.tls` and checks that the files hold a PEM certificate and
 * the private key that belongs to it, the way OpenSSL will use them (a
 * secure context is built). Throws a `CertificateProblem` saying which file
 * is wrong and why. Used by `sessioncap check` (config/checks.ts), at start,
 * and on every SIGHUP, so a file that passes the check is one the listener
 * accepts.
 */
export function readCertificatePair (tls: TlsConfig): CertificatePair {
  const cert = readPem(tls.cert, 'cert')
  const key = readPem(tls.key, 'key')
  if (!cert.includes('-----BEGIN CERTIFICATE-----')) {
    throw new CertificateProblem('cert', `${tls.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`)
  }
  let leaf: X509Certificate
  try {
    // The first certificate of the file is the one served; the rest is its chain.
    leaf = new X509Certificate(cert)
  } catch (err) {
    throw new CertificateProblem('cert', `${tls.cert} is not a readable certificate: ${reason(err)}`)
  }
  const text = key.toString('latin1')
  // An encrypted key would need a passphrase at every start and reload, which nobody is there to type.
  if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || text.includes('Proc-Type: 4,ENCRYPTED')) {
    throw new CertificateProblem('key', `${tls.key} is encrypted: sessioncap needs the key unencrypted (keep the file readable by sessioncap's user only)`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(key)
  } catch (err) {
    throw new CertificateProblem('key', `${tls.key} is not a PEM private key: ${reason(err)}`)
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertificateProblem('key', `${tls.key} is not the key of the certificate in ${tls.cert} (${leaf.subject.replaceAll('\n', ', ')})`)
  }
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    // The certificate and key match, so what OpenSSL refuses is the rest of the file (a broken chain certificate).
    throw new CertificateProblem('cert', `${tls.cert} cannot be used: ${reason(err)}`)
  }
  return {
    cert,
    key,
    fingerprint: leaf.fingerprint256,
    subject: leaf.subject.replaceAll('\n', ', '),
    notAfter: new Date(leaf.validTo)
  }
}

function readPem (file: string, at: 'cert' | 'key'): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new CertificateProblem(at, code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${code ?? reason(err)}`)
  }
}

/** OpenSSL's words without its `error:0480006C:` prefix. */
function reason (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.replace(/^error:[0-9A-F]+:/, '')
}
