#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { PRESET_NAMES, PRESETS, presetAdvice } from './config/presets.js'
import { runAdminCommand } from './cli/admin.js'
import { ADMIN_COMMANDS } from './cli/admin-commands.js'
import { commandOf, HELP, usageOf } from './cli/help.js'
import { EXIT_CONFIG, EXIT_RUNTIME } from './cli/exit-codes.js'

const USAGE = `usage:
  sessioncap [run] --config FILE     run the gateway (or set SESSIONCAP_CONFIG=FILE)
                                     SIGHUP reloads FILE (and reopens the audit file); SIGTERM stops gracefully
  sessioncap check --config FILE [--print] [--probe]
                                     validate the configuration, and the files a start needs, and exit;
                                     --print: the configuration as it takes effect (presets, \${ENV}, defaults), secrets masked;
                                     --probe: also ask the app (login pages, cookies, form fields) what looks wrong
  sessioncap presets [NAME]          show the framework presets and what each fills in
  sessioncap schema                  print the configuration's JSON Schema (for editors; config/sessioncap.schema.json)

  sessioncap sessions list [--user NAME | --offset N]  a user's sessions, or everyone's (100 users a page)
  sessioncap sessions end --user NAME [--keep N]       end a user's sessions (all but the newest N)
  sessioncap sessions end --id SESSION [--user NAME]   end one session (with --user, the id's start is enough)
  sessioncap sessions over-limit [--max N]             users with more sessions than N (or their limit)
  sessioncap sweep [--max N] [--dry-run]               end every user's sessions beyond N (or their limit)
  sessioncap blocks list [--user NAME | --address IP]  the login guard's active blocks (of one user or network)
  sessioncap blocks unblock --user NAME | --network ADDRESS|CIDR   lift a user's or a network's blocks
    these talk to a running gateway's admin API, found by
      --config FILE                  its admin: host, port and token (or SESSIONCAP_CONFIG)
      --admin-url URL --token TOKEN  (or SESSIONCAP_ADMIN_URL, SESSIONCAP_ADMIN_TOKEN); these win over the file
    --json prints the API's answer as it is, instead of a table

  sessioncap --version | --help
  sessioncap COMMAND --help          a command's options, with an example

exit codes: 0 done; 1 failed while running, or the admin API answered an error;
            2 wrong configuration or command line; 3 the admin API cannot be reached
`

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  'admin-url': { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  user: { type: 'string' },
  id: { type: 'string' },
  keep: { type: 'string' },
  max: { type: 'string' },
  'dry-run': { type: 'boolean' },
  address: { type: 'string' },
  network: { type: 'string' },
  print: { type: 'boolean' },
  probe: { type: 'boolean' },
  offset: { type: 'string' }
} as const

/** Options of the admin commands, which the gateway's own commands refuse. */
const ADMIN_ONLY = ['admin-url', 'token', 'json', 'user', 'id', 'keep', 'max', 'dry-run', 'address', 'network', 'offset'] as const
const ARG_OF = { json: 'json', user: 'user', id: 'id', keep: 'keep', max: 'max', dryRun: 'dry-run', address: 'address', network: 'network', offset: 'offset' } as const

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS })
  } catch (err) {
    // One line naming the option, and the usage of the command it was given to.
    const loose = parseArgs({ args: argv, allowPositionals: true, options: OPTIONS, strict: false })
    return usage((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), commandOf(loose.positionals))
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    const named = positionals.length === 0 ? undefined : commandOf(positionals)
    process.stdout.write(named === undefined ? USAGE : `${HELP[named] ?? ''}\n`)
    return 0
  }
  if (values.version === true) { process.stdout.write(`${version()}\n`); return 0 }

  const command = positionals[0] === 'sessions' || positionals[0] === 'blocks' ? positionals.slice(0, 2).join(' ') : positionals[0] ?? 'run'
  const given = ADMIN_ONLY.filter((o) => values[o] !== undefined)
  const admin = ADMIN_COMMANDS[command]
  if (admin !== undefined) {
    if (positionals.length > command.split(' ').length) return usage(`unexpected ${JSON.stringify(positionals.slice(command.split(' ').length).join(' '))}`)
    const takes = new Set<string>(['admin-url', 'token', 'json', ...admin.options.map((o) => ARG_OF[o])])
    const wrong = given.filter((o) => !takes.has(o))
    if (wrong.length > 0) return usage(`${command} does not take --${wrong.join(', --')}`, command)
    return await runAdminCommand(command, {
      user: values.user, id: values.id, keep: values.keep, max: values.max, dryRun: values['dry-run'], json: values.json, address: values.address, network: values.network, offset: values.offset
    }, { adminUrl: values['admin-url'], token: values.token, config: values.config })
  }

  const known = ['run', 'check', 'presets', 'schema'].includes(command) && positionals.length <= (command === 'presets' ? 2 : 1)
  if (!known) return usage(`unknown command ${JSON.stringify(positionals.join(' '))}`)
  if (given.length > 0) return usage(`${command} does not take --${given.join(', --')}`, command)
  if ((values.print === true || values.probe === true) && command !== 'check') return usage(`${command} does not take --${values.print === true ? 'print' : 'probe'}`, command)
  if (command === 'presets') return await showPresets(positionals[1])
  if (command === 'schema') {
    // The file shipped with the package (kept equal to editorSchema() by test/editor-schema.test.ts).
    process.stdout.write(readFileSync(new URL('../config/sessioncap.schema.json', import.meta.url), 'utf8'))
    return 0
  }
  const file = values.config ?? process.env.SESSIONCAP_CONFIG
  if (file === undefined || file === '') {
    return usage('no configuration file: pass --config FILE or set SESSIONCAP_CONFIG')
  }

  // The configuration's reader and checks are loaded only for the commands that read one (admin commands start faster without).
  const { readConfig, UnusableConfig } = await import('./cli/config-file.js')
  const { checkStart } = await import('./cli/start-checks.js')
  let loaded: Awaited<ReturnType<typeof readConfig>>
  try {
    loaded = readConfig(file)
    // Also before `run`: a start that cannot work says why before anything listens.
    checkStart(loaded)
  } catch (err) {
    if (!(err instanceof UnusableConfig)) throw err
    const [summary, ...problems] = err.lines
    process.stderr.write(`sessioncap: ${summary ?? ''}\n${problems.map((p) => `${p}\n`).join('')}`)
    return EXIT_CONFIG
  }

  if (command === 'check') {
    if (values.print === true) process.stdout.write((await import('./cli/print-config.js')).printableConfig(loaded.effective))
    else process.stdout.write(`${file}: ok\n`)
    for (const advice of presetAdvice(loaded.config)) process.stderr.write(`sessioncap: warning: ${advice}\n`)
    if (values.probe === true) {
      // Asks the app what the file assumes (GET requests only): exit 1 when something looks wrong.
      const { probe } = await import('./cli/probe.js')
      const lines = await probe(loaded.config)
      for (const l of lines) process.stdout.write(`${l.ok ? 'ok  ' : 'WARN'} ${l.text}\n`)
      return lines.every((l) => l.ok) ? 0 : EXIT_RUNTIME
    }
    return 0
  }
  // Loaded only here: the gateway's modules are most of the CLI's start-up time, and the admin commands need none of them.
  const { run } = await import('./cli/run.js')
  const code = await run(loaded)
  // Everything is saved and flushed by now. What may remain are the app-side
  // connections of requests cut at shutdown, which would hold the process
  // until proxy.timeout; they are of no use any more.
  process.exit(code)
}

/** A wrong command line: the problem, then the usage of the command it was (all of them when none). */
function usage (message: string, command?: string): number {
  const own = command === undefined ? undefined : usageOf(command)
  process.stderr.write(own === undefined ? `sessioncap: ${message}\n${USAGE}` : `sessioncap: ${message}\n${own}\n(sessioncap ${command ?? ''} --help says more)\n`)
  return EXIT_CONFIG
}

/** `sessioncap presets [NAME]`: each preset as the YAML it stands for. */
async function showPresets (name: string | undefined): Promise<number> {
  const { stringify } = await import('yaml')
  const names = name === undefined ? PRESET_NAMES : PRESET_NAMES.filter((n) => n === name)
  if (names.length === 0) {
    process.stderr.write(`sessioncap: no preset ${JSON.stringify(name)}; there are: ${PRESET_NAMES.join(', ')}\n`)
    return EXIT_CONFIG
  }
  for (const n of names) {
    const preset = PRESETS[n]
    process.stdout.write(`# preset: ${n}  (${preset.proven ? 'proven against the real framework in the tests' : 'documented defaults, not run in the tests'})\n`)
    process.stdout.write(`# checked against: ${preset.checked}\n`)
    if (preset.needsWhoami !== undefined) process.stdout.write(`# needs a whoami and login: auto to be safe: ${preset.needsWhoami}\n`)
    process.stdout.write(`# \`preset: ${n}\` writes this for you (your own keys win):\n`)
    process.stdout.write(stringify(preset.values) + '\n')
  }
  return 0
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

// A reader that stops early (`sessioncap sessions list … | head`) is not a failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
  throw err
})

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`sessioncap: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = EXIT_RUNTIME
})
