#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { loadConfigFile, type LoadedConfig } from './config/load.js'
import { ConfigError, formatProblem } from './config/problem.js'
import { createGateway } from './proxy/gateway.js'
import { PRESET_NAMES, PRESETS } from './config/presets.js'
import { stringify } from 'yaml'

/** Exit codes: 0 fine, 1 failed while running, 2 the configuration (or the command line) is wrong. */
const EXIT_RUNTIME = 1
const EXIT_CONFIG = 2

const USAGE = `usage:
  sessioncap [run] --config FILE     run the gateway (or set SESSIONCAP_CONFIG=FILE)
  sessioncap check --config FILE     validate the configuration and exit
  sessioncap presets [NAME]          show the framework presets and what each fills in
  sessioncap --version | --help
`

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' }
      }
    })
  } catch (err) {
    process.stderr.write(`sessioncap: ${(err as Error).message}\n${USAGE}`)
    return EXIT_CONFIG
  }
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(USAGE); return 0 }
  if (values.version === true) { process.stdout.write(`${version()}\n`); return 0 }

  const command = positionals[0] ?? 'run'
  if (command === 'presets') return showPresets(positionals[1])
  if (!['run', 'check'].includes(command) || positionals.length > 1) {
    process.stderr.write(`sessioncap: unknown command ${JSON.stringify(positionals.join(' '))}\n${USAGE}`)
    return EXIT_CONFIG
  }
  const file = values.config ?? process.env.SESSIONCAP_CONFIG
  if (file === undefined || file === '') {
    process.stderr.write(`sessioncap: no configuration file: pass --config FILE or set SESSIONCAP_CONFIG\n${USAGE}`)
    return EXIT_CONFIG
  }

  let loaded: LoadedConfig
  try {
    loaded = loadConfigFile(file)
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`sessioncap: ${file} has ${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}:\n`)
      for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`)
    } else {
      process.stderr.write(`sessioncap: ${(err as Error).message}\n`)
    }
    return EXIT_CONFIG
  }

  if (command === 'check') {
    process.stdout.write(`${file}: ok\n`)
    return 0
  }
  return await run(loaded)
}

async function run (loaded: LoadedConfig): Promise<number> {
  const gateway = await createGateway(loaded.config)
  try {
    const address = await gateway.listen()
    gateway.app.log.info({ address, upstream: loaded.config.upstream }, 'sessioncap is listening')
  } catch (err) {
    const where = loaded.locate(['listen', 'port'])
    process.stderr.write(`sessioncap: ${where.file}:${where.line}:${where.column}: listen.port: ${(err as Error).message}\n`)
    await gateway.close()
    return EXIT_CONFIG
  }

  return await new Promise<number>((resolve) => {
    let closing = false
    const stop = (signal: NodeJS.Signals): void => {
      if (closing) return
      closing = true
      gateway.app.log.info({ signal }, 'stopping: finishing requests in flight')
      gateway.close().then(() => { resolve(0) }, (err: unknown) => {
        gateway.app.log.error({ err }, 'error while stopping')
        resolve(EXIT_RUNTIME)
      })
    }
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  })
}

/** `sessioncap presets [NAME]`: each preset as the YAML it stands for. */
function showPresets (name: string | undefined): number {
  const names = name === undefined ? PRESET_NAMES : PRESET_NAMES.filter((n) => n === name)
  if (names.length === 0) {
    process.stderr.write(`sessioncap: no preset ${JSON.stringify(name)}; there are: ${PRESET_NAMES.join(', ')}\n`)
    return EXIT_CONFIG
  }
  for (const n of names) {
    const preset = PRESETS[n]
    process.stdout.write(`# preset: ${n}  (${preset.proven ? 'proven against the real framework in the tests' : 'documented defaults, not run in the tests'})\n`)
    process.stdout.write(`# checked against: ${preset.checked}\n`)
    process.stdout.write(`# \`preset: ${n}\` writes this for you (your own keys win):\n`)
    process.stdout.write(stringify(preset.values) + '\n')
  }
  return 0
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`sessioncap: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = EXIT_RUNTIME
})
