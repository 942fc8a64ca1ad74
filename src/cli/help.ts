/**
 * Each command's own help (`sessioncap COMMAND --help`): its usage line, its
 * options and an example. The first line is what a wrong command line shows
 * under the error.
 */
const CONNECTION = `the admin API is found by
  --config FILE                  its admin: host, port and token (or SESSIONCAP_CONFIG)
  --admin-url URL --token TOKEN  (or SESSIONCAP_ADMIN_URL, SESSIONCAP_ADMIN_TOKEN); these win over the file
  --json                         print the API's answer as it is, instead of a table`

export const HELP: Readonly<Record<string, string>> = {
  run: `usage: sessioncap [run] --config FILE
Runs the gateway (or set SESSIONCAP_CONFIG=FILE). SIGHUP reloads FILE (and reopens
the audit file and the TLS certificate); SIGTERM stops gracefully.
example:
  sessioncap --config /etc/sessioncap/sessioncap.yaml`,
  check: `usage: sessioncap check --config FILE [--print] [--probe]
Validates the configuration and the files a start needs (templates, snapshot,
audit folder, TLS files), then exits: 0 when a start would succeed, 2 otherwise.
  --print   the configuration as it takes effect (presets, \${ENV} and defaults
            applied, secrets masked), as YAML
  --probe   also asks the app, with GET requests only: does it answer, does each
            login route's page exist, which cookies does it set (a framework's
            session cookie under another name than session.cookie?), does the
            form have the user field; exit 1 when something looks wrong
example:
  sessioncap check --config sessioncap.yaml && sessioncap --config sessioncap.yaml`,
  presets: `usage: sessioncap presets [NAME]
Shows the framework presets, or one, as the YAML each stands for.
example:
  sessioncap presets django`,
  schema: `usage: sessioncap schema
Prints the configuration's JSON Schema, for editors (the YAML language server).
example:
  sessioncap schema > sessioncap.schema.json`,
  'sessions list': `usage: sessioncap sessions list [--user NAME | --offset N]
Lists a user's sessions, in every scope; without --user, everyone's, 100 users
a page (--offset N: from the N-th user on; the table says the next offset).
${CONNECTION}
example:
  sessioncap sessions list --user alice --config /etc/sessioncap/sessioncap.yaml`,
  'sessions end': `usage: sessioncap sessions end --user NAME [--keep N] | --id SESSION [--user NAME]
Ends a user's sessions (all but the newest N of each scope), or one session by
its id (with --user, the start of the id the table shows is enough).
${CONNECTION}
example:
  sessioncap sessions end --user alice --keep 1`,
  'sessions over-limit': `usage: sessioncap sessions over-limit [--max N]
Lists the users with more sessions than N (or than their own limit).
${CONNECTION}
example:
  sessioncap sessions over-limit --max 1`,
  sweep: `usage: sessioncap sweep [--max N] [--dry-run]
Ends every user's sessions beyond N (or beyond their own limit), oldest first.
  --dry-run   say what would be ended, and end nothing
${CONNECTION}
example:
  sessioncap sweep --max 1 --dry-run`,
  'blocks list': `usage: sessioncap blocks list [--user NAME | --address IP]
Lists the login guard's active blocks (of one user, or of one address's network).
${CONNECTION}
example:
  sessioncap blocks list --user alice`,
  'blocks unblock': `usage: sessioncap blocks unblock --user NAME | --network ADDRESS|CIDR
Lifts a user's blocks, or the blocks of the networks in an address or range.
${CONNECTION}
example:
  sessioncap blocks unblock --network 203.0.113.0/24`
}

/** The command a command line names (`sessions list`, `check`…), or undefined; options and their values are skipped. */
export function commandOf (positionals: readonly string[]): string | undefined {
  const [first, second] = positionals
  if (first === undefined) return 'run'
  const two = `${first} ${second ?? ''}`
  if (HELP[two] !== undefined) return two
  return HELP[first] !== undefined ? first : undefined
}

/** The usage line of a command, for under an error. */
export function usageOf (command: string): string | undefined {
  return HELP[command]?.split('\n')[0]
}
