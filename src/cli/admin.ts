import { ADMIN_COMMANDS, UsageError, type AdminArgs } from './admin-commands.js'
import { ApiError, resolveTarget, TargetError, UnreachableError, type TargetSources } from './admin-client.js'
import { EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, EXIT_UNREACHABLE } from './exit-codes.js'

/**
 * Runs one admin command: checks its arguments, finds the API, calls it,
 * prints the answer, and turns what went wrong into the exit code (see
 * exit-codes.ts). Messages go to stderr, answers to stdout.
 */
export async function runAdminCommand (name: string, args: AdminArgs, sources: TargetSources): Promise<number> {
  const command = ADMIN_COMMANDS[name]
  if (command === undefined) return fail(EXIT_CONFIG, `unknown command ${JSON.stringify(name)}`)
  try {
    const call = command.prepare(args)
    const answer = await call(await resolveTarget(sources))
    process.stdout.write(args.json === true ? `${answer.text}\n` : answer.table)
    return EXIT_OK
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT_CONFIG, err.message)
    if (err instanceof TargetError) return fail(EXIT_CONFIG, ...err.lines)
    if (err instanceof UnreachableError) return fail(EXIT_UNREACHABLE, err.message)
    if (err instanceof ApiError) {
      // Scripts reading --json get the API's own error object too.
      if (args.json === true && err.body !== '') process.stdout.write(`${err.body}\n`)
      return fail(EXIT_RUNTIME, `${err.message}${err.code === undefined ? '' : ` (${err.code})`}`)
    }
    throw err
  }
}

function fail (code: number, ...lines: string[]): number {
  process.stderr.write(lines.map((l, i) => i === 0 ? `sessioncap: ${l}\n` : `${l}\n`).join(''))
  return code
}
