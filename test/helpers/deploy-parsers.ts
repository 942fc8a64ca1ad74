/**
 * Readers for the deployment files, enough to check them without Docker or
 * systemd running: the Dockerfile's stages and instructions, .dockerignore's
 * allowlist, a systemd unit's sections.
 */

export interface Instruction { keyword: string, args: string }
export interface Stage { name: string, from: string, instructions: Instruction[] }

/** Stages in order, with their instructions (continuation lines joined, comments dropped). */
export function parseDockerfile (text: string): Stage[] {
  const stages: Stage[] = []
  const logical: string[] = []
  let pending = ''
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue
    if (line.endsWith('\\')) { pending += line.slice(0, -1) + ' '; continue }
    logical.push(pending + line)
    pending = ''
  }
  for (const line of logical.map((l) => l.trim()).filter(Boolean)) {
    const m = /^(\S+)\s+(.*)$/.exec(line)
    if (m === null) continue
    const keyword = (m[1] ?? '').toUpperCase()
    const args = (m[2] ?? '').replace(/\s+/g, ' ')
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)
      stages.push({ name: from?.[2] ?? String(stages.length), from: from?.[1] ?? args, instructions: [] })
    } else {
      stages.at(-1)?.instructions.push({ keyword, args })
    }
  }
  return stages
}

/** A COPY's flags, sources and destination. */
export function parseCopy (args: string): { from: string | undefined, sources: string[], dest: string } {
  const words = args.split(' ')
  const flags = words.filter((w) => w.startsWith('--'))
  const paths = words.filter((w) => !w.startsWith('--'))
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length)
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' }
}

/**
 * Whether .dockerignore lets `path` into the build context. Enough of its
 * rules for an allowlist: patterns are `*` or paths (a folder covers what is
 * under it), `!` lets back in, and the last pattern that matches decides.
 */
export function dockerContextHas (dockerignore: string, path: string): boolean {
  const clean = path.replace(/^\.\//, '').replace(/\/$/, '')
  let included = true
  for (const raw of dockerignore.split('\n').map((l) => l.trim())) {
    if (raw === '' || raw.startsWith('#')) continue
    const negate = raw.startsWith('!')
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\//, '').replace(/\/$/, '')
    const matches = pattern === '*' || pattern === '**' || clean === pattern || clean.startsWith(`${pattern}/`)
    if (matches) included = negate
  }
  return included
}

/** A systemd unit: section → key → every value given (a key may repeat). */
export function parseUnit (text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section !== null) {
      current = new Map()
      sections.set(section[1] ?? '', current)
      continue
    }
    const eq = line.indexOf('=')
    if (eq === -1 || current === undefined) throw new Error(`not a unit file line: ${line}`)
    const key = line.slice(0, eq).trim()
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return sections
}
