import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

/**
 * The layering, checked on the imports themselves: the proxy may use the
 * pages, the admin API and the sessions layer, never the other way round
 * (they were an eight-file import circle once), and what decides about
 * sessions knows no HTTP framework.
 */
const SRC = new URL('../src/', import.meta.url).pathname

function filesUnder (dir: string): string[] {
  return readdirSync(join(SRC, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

function importsOf (file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1] as string)
}

for (const dir of ['pages', 'admin', 'sessions', 'domain', 'store', 'http', 'identity', 'ops', 'config']) {
  t.test(`${dir}/ imports nothing of proxy/`, async (t) => {
    for (const file of filesUnder(dir)) {
      const bad = importsOf(file).filter((i) => /(^|\/)proxy\//.test(i))
      t.same(bad, [], relative(SRC, file))
    }
  })
}

for (const dir of ['sessions', 'domain', 'store']) {
  t.test(`${dir}/ knows no HTTP framework`, async (t) => {
    for (const file of filesUnder(dir)) {
      const bad = importsOf(file).filter((i) => /^(fastify|@fastify\/|undici|node:http)/.test(i) || /(^|\/)(http|pages|admin)\//.test(i))
      t.same(bad, [], relative(SRC, file))
    }
  })
}
