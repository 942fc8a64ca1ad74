import { loadConfigFile, type LoadedConfig } from '../config/load.js'
import { ConfigError, formatProblem } from '../config/problem.js'

/** A configuration file that could not be used, with the lines that say why (one per problem). */
export class UnusableConfig extends Error {
  readonly file: string
  readonly lines: readonly string[]
  constructor (file: string, lines: readonly string[]) {
    super(lines.join('\n'))
    this.file = file
    this.lines = lines
    this.name = 'UnusableConfig'
  }
}

/**
 * Loads a configuration file the way the gateway does (environment variables
 * substituted, every problem collected). Throws `UnusableConfig` whose first
 * line is the summary and the others the problems, `file:line:column: key: …`.
 */
export function readConfig (file: string): LoadedConfig {
  try {
    return loadConfigFile(file)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new UnusableConfig(file, [(err as Error).message])
    const n = err.problems.length
    throw new UnusableConfig(file, [`${file} has ${n} problem${n === 1 ? '' : 's'}:`, ...err.problems.map(formatProblem)])
  }
}
