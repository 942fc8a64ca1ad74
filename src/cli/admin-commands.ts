import type { SessionView, SweepResult, UserSessions } from '../admin/operations.js'
import { ApiError, callAdmin, type AdminTarget, type Answer } from './admin-client.js'
import { limitText, plural, sessionTable, table } from './tables.js'

/**
 * `sessioncap sessions …` and `sessioncap sweep`: each one admin API call,
 * its answer shown as a table (or, with `--json`, as the API sent it).
 */

export interface AdminArgs {
  user?: string | undefined
  id?: string | undefined
  keep?: string | undefined
  max?: string | undefined
  dryRun?: boolean | undefined
  json?: boolean | undefined
  address?: string | undefined
  network?: string | undefined
  offset?: string | undefined
}

/** A wrong command line, found before anything is asked of the API (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError'
}

interface AdminCommand {
  /** The options it takes besides the connection ones (--config, --admin-url, --token, --json). */
  options: ReadonlyArray<keyof AdminArgs>
  /** Checks the arguments (throws UsageError) and returns what runs the call. */
  prepare: (args: AdminArgs) => (target: AdminTarget) => Promise<Answer & { table: string }>
}

export const ADMIN_COMMANDS: Readonly<Record<string, AdminCommand>> = {
  'sessions list': {
    options: ['user', 'offset'],
    prepare: (args) => {
      if (args.user === undefined) {
        // Everyone: a page of up to 100 users, from --offset N.
        const offset = count(args.offset, '--offset') ?? 0
        return async (target) => {
          const answer = await callAdmin(target, `/sessions?offset=${offset}&limit=100`)
          return { ...answer, table: allTable(answer.json as { users: UserSessions[], next: number | null }, offset) }
        }
      }
      if (args.offset !== undefined) throw new UsageError('--offset goes with the list of everyone, not --user')
      const user = required(args.user, '--user NAME')
      return async (target) => {
        const answer = await callAdmin(target, `/users/${encodeURIComponent(user)}/sessions`)
        return { ...answer, table: listTable(user, answer.json as { scopes: UserSessions[] }) }
      }
    }
  },
  'sessions end': {
    options: ['user', 'id', 'keep'],
    prepare: (args) => {
      if (args.user === undefined && args.id === undefined) throw new UsageError('sessions end takes --user NAME (all of that user\'s sessions, or all but the newest --keep N) or --id SESSION')
      if (args.id !== undefined && args.keep !== undefined) throw new UsageError('--keep goes with --user, not --id')
      if (args.id !== undefined) {
        const id = required(args.id, '--id SESSION')
        return async (target) => await endById(target, id, args.user)
      }
      const user = required(args.user, '--user NAME')
      const keep = count(args.keep, '--keep') ?? 0
      return async (target) => {
        const answer = await callAdmin(target, `/users/${encodeURIComponent(user)}/sessions?keep=${keep}`, { method: 'DELETE' })
        const { ended } = answer.json as { ended: SessionView[] }
        const kept = keep > 0 ? ` (kept the newest ${keep} of each scope)` : ''
        return { ...answer, table: `Ended ${plural(ended.length, 'session')} of ${user}${kept}:\n${sessionTable(ended)}` }
      }
    }
  },
  'sessions over-limit': {
    options: ['max'],
    prepare: (args) => {
      const max = positive(args.max, '--max')
      return async (target) => {
        const answer = await callAdmin(target, `/sessions?over-limit=true${max === undefined ? '' : `&max=${max}`}`)
        return { ...answer, table: overLimitTable(answer.json as { users: UserSessions[], truncated: boolean }, max) }
      }
    }
  },
  'blocks list': {
    options: ['user', 'address'],
    prepare: (args) => {
      const query = new URLSearchParams()
      if (args.user !== undefined) query.set('user', required(args.user, '--user NAME'))
      if (args.address !== undefined) query.set('address', required(args.address, '--address IP'))
      const q = query.toString()
      return async (target) => {
        const answer = await callAdmin(target, `/blocks${q === '' ? '' : `?${q}`}`)
        return { ...answer, table: blocksTable(answer.json as { blocks: BlockView[], total: number }, args) }
      }
    }
  },
  'blocks unblock': {
    options: ['user', 'network'],
    prepare: (args) => {
      if ((args.user === undefined) === (args.network === undefined)) throw new UsageError('blocks unblock takes --user NAME or --network ADDRESS|CIDR (one of them)')
      const path = args.user !== undefined
        ? `/blocks/users/${encodeURIComponent(required(args.user, '--user NAME'))}`
        : `/blocks/networks/${encodeURIComponent(required(args.network, '--network ADDRESS|CIDR'))}`
      return async (target) => {
        const answer = await callAdmin(target, path, { method: 'DELETE' })
        const { lifted } = answer.json as { lifted: BlockView[] }
        return { ...answer, table: `Lifted ${plural(lifted.length, 'block')} of ${args.user ?? args.network ?? ''}:\n${table(BLOCK_COLUMNS, lifted.map(blockRow))}` }
      }
    }
  },
  sweep: {
    options: ['max', 'dryRun'],
    prepare: (args) => {
      const max = positive(args.max, '--max')
      const dryRun = args.dryRun === true
      return async (target) => {
        const answer = await callAdmin(target, '/sweep', { method: 'POST', body: { ...(max === undefined ? {} : { max }), dryRun } })
        return { ...answer, table: sweepTable(answer.json as SweepResult, max) }
      }
    }
  }
}

/**
 * The table shows an id's first characters only; with `--user` as well, such
 * a start is looked up among that user's sessions (it must match one), so
 * what the table shows can be pasted back.
 */
async function endById (target: AdminTarget, id: string, user: string | undefined): Promise<Answer & { table: string }> {
  let full = id
  if (user !== undefined) {
    const listed = (await callAdmin(target, `/users/${encodeURIComponent(user)}/sessions`)).json as { scopes: UserSessions[] }
    const matches = listed.scopes.flatMap((s) => s.sessions).filter((s) => s.id.startsWith(id))
    if (matches.length > 1) throw new UsageError(`more than one of ${user}'s sessions start with ${id}: give more of the id`)
    if (matches.length === 0) throw new ApiError(`none of ${user}'s sessions starts with ${id}: nothing was ended`, 404, undefined, '')
    full = (matches[0] as SessionView).id
  }
  const answer = await callAdmin(target, `/sessions/${encodeURIComponent(full)}`, { method: 'DELETE' })
  const { ended } = answer.json as { ended: SessionView[] }
  return { ...answer, table: `Ended ${plural(ended.length, 'session')}:\n${sessionTable(ended)}` }
}

/** A block as the admin API lists it: hashes, never a name or an address. */
interface BlockView {
  counter: string
  user?: string
  network?: string
  until: string
  failures: number
  times: number
}

const BLOCK_COLUMNS = ['COUNTER', 'USER KEY', 'NETWORK KEY', 'UNTIL', 'FAILURES', 'TIMES']

function blockRow (b: BlockView): string[] {
  return [b.counter, b.user?.slice(0, 10) ?? '-', b.network?.slice(0, 10) ?? '-', b.until, String(b.failures), String(b.times)]
}

function blocksTable (answer: { blocks: BlockView[], total: number }, args: AdminArgs): string {
  const of = args.user !== undefined ? ` of ${args.user}` : args.address !== undefined ? ` of ${args.address}'s network` : ''
  if (answer.blocks.length === 0) return `No login guard block${of} is active.\n`
  const note = answer.total > answer.blocks.length ? `(the first ${answer.blocks.length} of ${answer.total})\n` : ''
  return `${plural(answer.total, 'active block')}${of} (users and networks are shown as keyed hashes):\n${table(BLOCK_COLUMNS, answer.blocks.map(blockRow))}${note}`
}

function listTable (user: string, answer: { scopes: UserSessions[] }): string {
  if (answer.scopes.length === 0) return `${user} has no sessions.\n`
  const summary = answer.scopes.map((s) => `${s.user}${s.scope === 'default' ? '' : ` (scope ${s.scope})`}: ${plural(s.sessions.length, 'session')}, ${s.counting} counting, limit ${limitText(s.limit)}`)
  return `${summary.join('\n')}\n${sessionTable(answer.scopes.flatMap((s) => s.sessions))}`
}

function allTable (answer: { users: UserSessions[], next: number | null }, offset: number): string {
  if (answer.users.length === 0) return offset === 0 ? 'Nobody has a session.\n' : `No users from ${offset} on.\n`
  const rows = answer.users.map((u) => [u.user, u.scope, String(u.sessions.length), String(u.counting), limitText(u.limit)])
  const more = answer.next === null ? '' : `(more: sessioncap sessions list --offset ${answer.next})\n`
  return `${table(['USER', 'SCOPE', 'SESSIONS', 'COUNTING', 'LIMIT'], rows)}${sessionTable(answer.users.flatMap((u) => u.sessions))}${more}`
}

function overLimitTable (answer: { users: UserSessions[], truncated: boolean }, max: number | undefined): string {
  const over = max === undefined ? 'their limit' : `${max}`
  if (answer.users.length === 0) return `No user has more counting sessions than ${over}.\n`
  const rows = answer.users.map((u) => [u.user, u.scope, String(u.counting), limitText(u.limit), String(u.counting - (max ?? u.limit))])
  const note = answer.truncated ? `(only the first ${answer.users.length} users are listed)\n` : ''
  return `${plural(answer.users.length, 'user')} with more counting sessions than ${over}:\n${table(['USER', 'SCOPE', 'COUNTING', 'LIMIT', 'OVER BY'], rows)}${note}`
}

function sweepTable (result: SweepResult, max: number | undefined): string {
  const over = max === undefined ? 'their limit' : `${max}`
  if (result.users.length === 0) return `Nothing to end: no user has more counting sessions than ${over}.\n`
  const verb = result.dryRun ? 'Dry run: would end' : 'Ended'
  const users = table(['USER', 'SCOPE', 'LIMIT', 'COUNTING', result.dryRun ? 'WOULD END' : 'ENDED'],
    result.users.map((u) => [u.user, u.scope, limitText(u.limit), String(u.counting), String(u.ended.length)]))
  return `${verb} ${plural(result.ended, 'session')} of ${plural(result.users.length, 'user')} over ${over}:\n${users}\n${sessionTable(result.users.flatMap((u) => u.ended))}`
}

function required (value: string | undefined, what: string): string {
  if (value === undefined || value === '') throw new UsageError(`${what} is required`)
  return value
}

function count (value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,9}$/.test(value)) throw new UsageError(`${flag} is a whole number of sessions (0 or more), got ${JSON.stringify(value)}`)
  return Number(value)
}

/** `--max 0` would mean "no limit" to the API, so it would end or list nothing: refused rather than silently doing nothing. */
function positive (value: string | undefined, flag: string): number | undefined {
  const n = count(value, flag)
  if (n === 0) throw new UsageError(`${flag} 0 would mean no limit, so nothing would be over it; to end all of a user's sessions: sessioncap sessions end --user NAME`)
  return n
}
