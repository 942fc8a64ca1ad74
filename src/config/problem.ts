import { errors } from '../errors.js'

/** One thing wrong with a configuration file, with where it is. */
export interface Problem {
  file: string
  line: number
  column: number
  /** The key path, e.g. `login[0].user.form`; empty for the file as a whole. */
  path: string
  message: string
}

/** `config.yaml:12:5: login[0].method: expected …` — one line per problem, like a compiler. */
export function formatProblem (p: Problem): string {
  const where = `${p.file}:${p.line}:${p.column}`
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`
}

const CONFIG_INVALID = new errors.CONFIG_INVALID('').code

/** Thrown by the loader when the file has problems; carries all of them, not the first only. */
export class ConfigError extends Error {
  readonly code = CONFIG_INVALID
  readonly problems: readonly Problem[]
  constructor (problems: readonly Problem[]) {
    super(problems.map(formatProblem).join('\n'))
    this.problems = problems
    this.name = 'ConfigError'
  }
}

/** `['login', 0, 'user']` → `login[0].user` */
export function keyPath (segments: readonly (string | number)[]): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else out += out === '' ? s : `.${s}`
  }
  return out
}

/** A value as a problem shows it: short, and never more than a line. */
export function show (value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'null (empty value)'
  if (typeof value === 'object') return Array.isArray(value) ? 'a list' : 'a mapping'
  const text = JSON.stringify(value)
  return text.length > 60 ? `${text.slice(0, 57)}...` : text
}
