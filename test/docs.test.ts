import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import type { TSchema } from '@sinclair/typebox'
import { ConfigSchema } from '../src/config/schema.js'
import { errors } from '../src/errors.js'
import { loadConfigFile } from '../src/config/load.js'

const README = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

/**
 * Key paths of the schema: `listen.port`, `login[].user.form`… With
 * `containers`, also the mappings that only group keys (`listen`, `session`).
 */
function keyPaths (schema: TSchema, prefix = '', containers = false): string[] {
  const s = schema as { type?: string, properties?: Record<string, TSchema>, items?: TSchema }
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

t.test('every configuration key is in the README reference', async (t) => {
  const reference = README.slice(README.indexOf('## Configuration reference'), README.indexOf('## Answers and error codes'))
  const paths = documented(keyPaths(ConfigSchema))
  t.ok(paths.length > 30, `${paths.length} keys`)
  for (const path of paths) t.ok(reference.includes(`| \`${path}\` |`), `${path} documented`)
})

t.test('every documented key exists', async (t) => {
  const paths = new Set(documented(keyPaths(ConfigSchema, '', true)))
  const reference = README.slice(README.indexOf('## Configuration reference'), README.indexOf('## Answers and error codes'))
  const rows = [...reference.matchAll(/^\| `([a-zA-Z.[\]]+)` \|/gm)].map((m) => m[1] as string)
  t.ok(rows.length > 30)
  for (const row of rows) t.ok(paths.has(row), `${row} is a real key`)
})

t.test('every error code is unique and documented', async (t) => {
  const codes = Object.values(errors).map((E) => new E('x', 'y', 'z').code)
  t.equal(new Set(codes).size, codes.length, 'unique')
  for (const code of codes) {
    t.match(code, /^SESSIONCAP_ERR_[A-Z_]+$/)
    t.ok(README.includes(`| \`${code}\` |`), `${code} documented`)
  }
})

t.test('every shipped configuration file is valid', async (t) => {
  const dir = new URL('../config/', import.meta.url)
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'))
  t.ok(files.length >= 3)
  // The variables docker-compose.yml and docs/deploy/ require, with made-up values (an example value is refused).
  const env = { SESSIONCAP_SECRET: randomBytes(32).toString('base64url'), SESSIONCAP_ADMIN_TOKEN: randomBytes(24).toString('base64url') }
  for (const f of files) t.doesNotThrow(() => loadConfigFile(new URL(f, dir).pathname, env), f)
})

t.test('the README quick start is the two commands', async (t) => {
  t.match(README, /```sh\nnpm install\nnpm run demo\n```/)
  t.match(README, /```sh\nnpm test\n```/)
})
