import type { Server } from 'node:net'
import type { Server as TlsServer } from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import type { TlsConfig } from '../config/schema.js'
import { CertificateProblem, readCertificatePair, type CertificatePair } from './certificates.js'

/**
 * The certificate the TLS listener serves, and its renewal: on SIGHUP the
 * files are read again, and a pair that passes every check of
 * `readCertificatePair` replaces the served one for new connections
 * (`server.setSecureContext`); connections already open keep the one they
 * were made with. A file that is missing, half-written or does not match
 * its key changes nothing: the running certificate stays, and the log says
 * why. The paths are the ones the gateway started with (`listen` needs a
 * restart to change), so a renewal is: write the new files, send SIGHUP.
 */
export class ServedCertificate {
  #pair: CertificatePair

  private readonly tls: TlsConfig
  private readonly server: Server
  private readonly log: FastifyBaseLogger

  constructor (tls: TlsConfig, pair: CertificatePair, server: Server, log: FastifyBaseLogger) {
    this.tls = tls
    this.server = server
    this.log = log
    this.#pair = pair
    this.#describe('serving TLS with this certificate')
  }

  get fingerprint (): string {
    return this.#pair.fingerprint
  }

  /** Reads the files again; says whether the served certificate changed. */
  reload (trigger: string): boolean {
    let next: CertificatePair
    try {
      next = readCertificatePair(this.tls)
    } catch (err) {
      if (!(err instanceof CertificateProblem)) throw err
      this.log.error({ trigger, key: `listen.tls.${err.at}`, fingerprint: this.#pair.fingerprint }, `TLS certificate not reloaded, the one served stays in force: ${err.message}`)
      return false
    }
    if (next.cert.equals(this.#pair.cert) && next.key.equals(this.#pair.key)) {
      this.log.info({ trigger, fingerprint: next.fingerprint }, 'TLS certificate read again: unchanged')
      return false
    }
    // The server was built for TLS (listen/server-options.ts); Fastify types it as its HTTP/1 server.
    (this.server as unknown as TlsServer).setSecureContext({ cert: next.cert, key: next.key })
    const previous = this.#pair.fingerprint
    this.#pair = next
    this.#describe('TLS certificate reloaded: new connections get this one', { trigger, previous })
    return true
  }

  #describe (message: string, details: Record<string, unknown> = {}): void {
    const pair = this.#pair
    const facts = { ...details, subject: pair.subject, fingerprint: pair.fingerprint, notAfter: pair.notAfter.toISOString() }
    this.log.info(facts, message)
    // Served all the same (refusing to start would take the site down for everyone); said loudly.
    // The wall clock, not the gateway's session clock: certificates expire in real time.
    if (pair.notAfter.getTime() <= Date.now()) this.log.warn(facts, 'the TLS certificate has expired: browsers will refuse it')
  }
}
