import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import type { TSchema } from '@sinclair/typebox'
import { ConfigSchema } from '../src/config/schema.js'
import { errors } from '../src/errors.js'
import { loadConfigFile, loadConfigText } from '../src/config/load.js'
import { END_REASONS } from '../src/domain/session.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8')
const README = read('README.md')
/** The README and every page under docs/ (deploy/ included), by path from the root. */
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
const ALL_DOCS = PAGES.map(read).join('\n')
const REFERENCE = read('docs/configuration.md')
/** The variables the examples use, with made-up values (an example value is refused). */
const ENV = { SESSIONCAP_SECRET: randomBytes(32).toString('base64url'), SESSIONCAP_ADMIN_TOKEN: randomBytes(24).toString('base64url'), SESSIONCAP_REDIS_URL: 'redis://127.0.0.1:6379' }

/**
 * Key paths of the schema: `listen.port`, `login[].user.form`… With
 * `containers`, also the mappings that only group keys (`listen`, `session`).
 */
function keyPaths (schema: TSchema, prefix = '', containers = false): string[] {
  const s = schema as { type?: string, properties?: Record<string, TSchema>, items?: TSchema, anyOf?: TSchema[] }
  // `false` or a mapping (`guard`, `guard.user`): the mapping's keys.
  if (s.anyOf !== undefined) return s.anyOf.flatMap((variant) => keyPaths(variant, prefix, containers))
  if (s.type === 'object' && s.properties !== undefined) {
    return Object.entries(s.properties).flatMap(([k, v]) => {
      const path = prefix === '' ? k : `${prefix}.${k}`
      const child = v as { type?: string }
      const inner = keyPaths(v, path, containers)
      return child.type === 'object' && !containers && prefix === '' ? inner : [path, ...inner]
    })
  }
  if (s.type === 'array' && s.items !== undefined) return keyPaths(s.items, `${prefix}[]`, containers)
  return []
}

/**
 * Paths as the README writes them: `login:` is usually written as the list of
 * routes, and a route's `group` takes the same keys as its `user` (documented once).
 */
function documented (paths: string[]): string[] {
  return paths.map((p) => p.replace(/^login\.routes(\[\])?/, 'login$1')).filter((p) => !p.startsWith('login[].group.'))
}

t.test('every configuration key is in the configuration reference (docs/configuration.md)', async (t) => {
  const reference = REFERENCE
  const paths = documented(keyPaths(ConfigSchema))
  t.ok(paths.length > 30, `${paths.length} keys`)
  for (const path of paths) t.ok(reference.includes(`| \`${path}\` |`), `${path} documented`)
})

t.test('every documented key exists', async (t) => {
  const paths = new Set(documented(keyPaths(ConfigSchema, '', true)))
  const reference = REFERENCE
  const rows = [...reference.matchAll(/^\| `([a-zA-Z.[\]]+)` \|/gm)].map((m) => m[1] as string)
  t.ok(rows.length > 30)
  for (const row of rows) t.ok(paths.has(row), `${row} is a real key`)
})

t.test('every error code is unique and documented', async (t) => {
  const codes = Object.values(errors).map((E) => new E('x', 'y', 'z').code)
  t.equal(new Set(codes).size, codes.length, 'unique')
  for (const code of codes) {
    t.match(code, /^SESSIONCAP_ERR_[A-Z_]+$/)
    t.ok(ALL_DOCS.includes(`| \`${code}\` |`), `${code} documented`)
  }
})

t.test('every shipped configuration file is valid', async (t) => {
  const dir = new URL('../config/', import.meta.url)
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 3)
  for (const f of files) t.doesNotThrow(() => loadConfigFile(new URL(f, dir).pathname, ENV), f)
})

t.test('the README quick start is the two commands', async (t) => {
  t.match(README, /```sh\nnpm install\nnpm run demo\n```/)
  t.match(README, /```sh\nnpm test\n```/)
})

t.test('the README stays short: the details are in docs/', async (t) => {
  const lines = README.split('\n')
  t.ok(lines.length <= 250, `${lines.length} lines`)
  for (const page of PAGES.filter((p) => p.startsWith('docs/') && !p.startsWith('docs/deploy/') && p !== 'docs/benchmarks.md')) {
    t.match(read(page), /^# .+\n\n(After reading this page|How many failed logins|What sessioncap|.+you (can|know))/, `${page} starts with what the reader will be able to do`)
  }
})

t.test('every end reason is documented', async (t) => {
  for (const reason of END_REASONS) t.ok(ALL_DOCS.includes(`| \`${reason}\` |`), `${reason} in a reasons table`)
})

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes; repeats get -1, -2… */
function anchorsOf (text: string): Set<string> {
  const out = new Set<string>()
  const seen = new Map<string, number>()
  let fence = false
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) { fence = !fence; continue }
    const m = fence ? null : /^#{1,6} (.*)$/.exec(line)
    if (m === null) continue
    const slug = (m[1] as string).trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return out
}

t.test('every relative link and anchor in the README and docs/ resolves', async (t) => {
  const anchors = new Map(PAGES.map((p) => [p, anchorsOf(read(p))]))
  let links = 0
  for (const page of PAGES) {
    // Markdown links and images, and HTML images (a picture sized for a phone).
    for (const m of read(page).matchAll(/\[[^\]]*\]\(([^)\s]+)\)|<img src="([^"]+)"/g)) {
      const target = (m[1] ?? m[2]) as string
      if (/^[a-z]+:/.test(target)) continue
      links++
      const [path, fragment] = target.split('#') as [string, string | undefined]
      const file = path === '' ? page : relative(ROOT, normalize(join(ROOT, dirname(page), path)))
      t.ok(existsSync(join(ROOT, file)), `${page}: ${target}: the file exists`)
      if (fragment !== undefined && fragment !== '') t.ok(anchors.get(file)?.has(fragment), `${page}: ${target}: the anchor exists`)
    }
  }
  t.ok(links > 50, `${links} links`)
})

t.test('every YAML block in the README and docs/ that is a whole sessioncap config passes the check', async (t) => {
  let configs = 0
  for (const page of PAGES) {
    for (const m of read(page).matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      const yaml = m[1] as string
      // A whole config names its upstream (or a preset) at the top level; the rest are fragments of one.
      if (!/^(upstream|preset):/m.test(yaml) || /^(apiVersion|kind|services):/m.test(yaml)) continue
      configs++
      t.doesNotThrow(() => loadConfigText(/^upstream:/m.test(yaml) ? yaml : `upstream: http://127.0.0.1:8000\n${yaml}`, page, ENV), `${page}: ${yaml.split('\n').slice(0, 3).join(' | ')}`)
    }
  }
  t.ok(configs >= 5, `${configs} configs`)
})
