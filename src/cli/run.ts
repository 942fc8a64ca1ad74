import { setFlagsFromString } from 'node:v8'
import type { LoadedConfig } from '../config/load.js'
import { createGateway } from '../proxy/gateway.js'
import { EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME } from './exit-codes.js'
import { reloadConfig } from './reload.js'
import { shutdown, type Shutdown } from './shutdown.js'
import { watchFile, type FileWatch } from './watch.js'
import { CertificateProblem } from '../listen/certificates.js'

/**
 * V8 moves an allocation site's objects straight to the old generation once
 * most of them survive a young collection ("pretenuring"), and never goes
 * back. A burst of logins (their bodies are held while the app answers) makes
 * sites that every proxied request shares look long-lived; from then on each
 * request's short-lived objects keep the rest of its graph alive through
 * every young collection: ~2.5 MB promoted per scavenge instead of 0.05 MB,
 * 6-12 ms pauses, ~25 us of CPU per request, for the life of the process
 * (measured with bench/profile.mjs and --trace-gc-nvp). A proxy's
 * per-request objects are all short-lived, so pretenuring only hurts here.
 * Set for the CLI (the process is ours), not in createGateway (a library
 * must not change its host's V8 flags).
 */
export function tuneV8ForProxying (): void {
  setFlagsFromString('--no-allocation-site-pretenuring')
}

/**
 * `sessioncap run`: the gateway until a signal stops it.
 *
 * - SIGHUP reads the file again (a bad file changes nothing), reopens the
 *   audit file, for log rotation, and reads the TLS certificate again (a
 *   renewed one is served to new connections; a broken one changes nothing).
 * - `watch: true` reloads when the file changes, without a signal.
 * - SIGTERM / SIGINT stop gracefully (shutdown.ts), exit 0. A second one
 *   stops waiting for requests in flight; the state is still saved. A third
 *   exits at once with 1, saving nothing, for a shutdown that hangs.
 */
export async function run (loaded: LoadedConfig): Promise<number> {
  tuneV8ForProxying()
  let gateway
  try {
    gateway = await createGateway(loaded.config)
  } catch (err) {
    // The certificate files changed (or went) since the configuration was checked.
    if (!(err instanceof CertificateProblem)) throw err
    const where = loaded.locate(['listen', 'tls', err.at])
    process.stderr.write(`sessioncap: ${where.file}:${where.line}:${where.column}: listen.tls.${err.at}: ${err.message}\n`)
    return EXIT_CONFIG
  }
  try {
    const address = await gateway.listen()
    gateway.app.log.info({ address, upstream: loaded.config.upstream }, 'sessioncap is listening')
  } catch (err) {
    const key = listenKey(loaded, err as Error)
    const where = loaded.locate(key.split('.'))
    process.stderr.write(`sessioncap: ${where.file}:${where.line}:${where.column}: ${key}: ${(err as Error).message}\n`)
    await gateway.close()
    return EXIT_CONFIG
  }
  const log = gateway.app.log

  let watching: FileWatch | undefined
  // `watch` itself can be switched by a reload.
  const syncWatch = (): void => {
    const wanted = gateway.context.config.watch
    if (wanted && watching === undefined) {
      watching = watchFile(loaded.file, () => { syncAfter(reloadConfig(gateway, loaded.file, 'file changed')) }, (err) => {
        log.error({ file: loaded.file, err }, 'cannot watch the configuration file for changes (SIGHUP still reloads it)')
      })
      log.info({ file: loaded.file }, 'watching the configuration file: changes are applied without a restart')
    } else if (!wanted && watching !== undefined) {
      watching.close()
      watching = undefined
    }
  }
  const syncAfter = (applied: boolean): void => { if (applied) syncWatch() }
  syncWatch()

  let stopping: Shutdown | undefined
  // Kept while stopping too: without a handler, SIGHUP would kill the process before the state is saved.
  process.on('SIGHUP', () => {
    if (stopping !== undefined) return
    gateway.audit.reopen()
    gateway.reloadCertificates('SIGHUP')
    syncAfter(reloadConfig(gateway, loaded.file, 'SIGHUP'))
  })

  return await new Promise<number>((resolve) => {
    let signals = 0
    const stop = (signal: NodeJS.Signals): void => {
      signals++
      if (stopping !== undefined) {
        if (signals === 2) { stopping.cutShort(`second ${signal}`); return }
        log.error({ signal }, 'stopping at once, without saving anything')
        process.exit(EXIT_RUNTIME)
      }
      watching?.close()
      const grace = gateway.context.config.shutdownTimeout
      log.info({ signal, shutdownTimeout: grace }, 'stopping: refusing new connections, finishing requests in flight')
      stopping = shutdown(gateway, grace)
      stopping.done.then(() => {
        log.info('stopped')
        resolve(EXIT_OK)
      }, (err: unknown) => {
        log.error({ err }, 'error while stopping')
        resolve(EXIT_RUNTIME)
      })
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

/**
 * Which key a failed listen points at: both listeners fail with the same
 * error, naming the address; the admin one is told by its address.
 */
function listenKey (loaded: LoadedConfig, err: Error): 'listen.port' | 'admin.port' {
  const admin = loaded.config.admin
  if (admin === undefined) return 'listen.port'
  const m = /cannot listen on (.+):(\d+):/.exec(err.message)
  if (m === null) return 'listen.port'
  const [host, port] = [m[1], Number(m[2])]
  // Both at the same address: the proxy (which listens first) took it, so the admin listener is the one to move.
  return host === admin.host && port === admin.port ? 'admin.port' : 'listen.port'
}
