import { readConfig, UnusableConfig } from './config-file.js'
import type { Gateway } from '../proxy/gateway.js'

/**
 * Reads the configuration file again and applies it to the running gateway.
 * A file with problems changes nothing: the running configuration stays in
 * force and each problem is logged, as `sessioncap check` would print it.
 * Returns whether the new file was applied.
 */
export function reloadConfig (gateway: Gateway, file: string, trigger: string): boolean {
  const log = gateway.app.log
  let next
  try {
    next = readConfig(file).config
  } catch (err) {
    if (!(err instanceof UnusableConfig)) throw err
    const [summary, ...problems] = err.lines
    log.error({ file, trigger }, `reload refused, the running configuration stays in force: ${summary ?? ''}`)
    for (const p of problems) log.error({ file }, p)
    return false
  }
  let outcome
  try {
    outcome = gateway.reload(next)
  } catch (err) {
    // Runs from a signal or a file watch: a failure here must not take the gateway down.
    log.error({ file, trigger, err }, 'reload failed')
    return false
  }
  const { changed, needRestart } = outcome
  log.info({ file, trigger, changed }, changed.length === 0 ? 'configuration reloaded: nothing changed' : 'configuration reloaded')
  if (needRestart.length > 0) {
    log.warn({ file, needRestart }, 'these keys changed in the file but need a restart: their running values stay in force until then')
  }
  return true
}
