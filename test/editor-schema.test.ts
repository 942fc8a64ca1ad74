import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { editorSchema, referenceSentences } from '../src/config/editor-schema.js'
import { cli } from './helpers/cli.js'

/**
 * The editor schema (`sessioncap schema`, config/sessioncap.schema.json): the
 * configuration's own schema, with the reference's sentences, judging files
 * as they are written. Checked with Ajv, a JSON Schema validator of its own,
 * as the YAML language server would.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8')
const SHIPPED = read('config/sessioncap.schema.json')
const validate = new Ajv({ strict: true, allErrors: true }).compile(JSON.parse(SHIPPED) as object)
const ENV = { SESSIONCAP_SECRET: 'a-made-up-secret-for-this-test-0123456789', SESSIONCAP_ADMIN_TOKEN: 'a-made-up-token-0123456789', SESSIONCAP_REDIS_URL: 'redis://127.0.0.1:6379' }

/** A file as the loader sees it once `${VARIABLE}`s are replaced (what an editor cannot know). */
function asLoaded (text: string): unknown {
  return parse(text.replace(/\$\{([A-Z_][A-Z0-9_]*)(:-([^}]*))?\}/g, (_m, name: string, _d, fallback: string | undefined) => (ENV as Record<string, string>)[name] ?? fallback ?? ''))
}

t.test('config/sessioncap.schema.json is the schema with the reference\'s sentences, and `sessioncap schema` prints it', async (t) => {
  const made = editorSchema(referenceSentences(read('docs/configuration.md')))
  t.same(JSON.parse(SHIPPED), made, 'up to date (npm run schema writes it)')
  const run = await cli(['schema'])
  t.equal(run.code, 0)
  t.equal(run.stdout, SHIPPED)
})

t.test('each key\'s description is the reference\'s sentence', async (t) => {
  const schema = JSON.parse(SHIPPED) as { properties: Record<string, { description?: string, properties?: Record<string, { description?: string, default?: unknown }> }> }
  t.match(schema.properties.limit?.description, /sessions per user/i)
  t.match(schema.properties.listen?.properties?.port?.description, /^port to listen on .*\(default: `8080`\)$/)
  t.equal(schema.properties.listen?.properties?.port?.default, 8080, 'and its default')
})

t.test('the example configs name the schema and validate against it; a wrong file does not', async (t) => {
  const examples = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'))
  t.ok(examples.length >= 3)
  for (const f of examples) {
    const text = read(`config/${f}`)
    t.match(text.split('\n')[0], /^# yaml-language-server: \$schema=sessioncap\.schema\.json$/, `${f}: names the schema on its first line`)
    t.ok(validate(asLoaded(text)), `${f}: valid ${JSON.stringify(validate.errors)}`)
  }
  t.ok(validate(asLoaded('upstream: http://127.0.0.1:8000\npreset: django\nlimit: 1\n')), 'a preset\'s four lines: nothing else is required')
  t.ok(validate(asLoaded('upstream: http://127.0.0.1:8000\nsession: { cookie: sid }\nlogin: auto\nwhoami: { path: /me, json: /name }\n')), '`login: auto`')
  t.notOk(validate(asLoaded('upstream: http://127.0.0.1:8000\npreset: django\nlimt: 1\n')), 'an unknown key')
  t.notOk(validate(asLoaded('upstream: http://127.0.0.1:8000\npreset: django\npolicy: evict-newest\n')), 'a value not allowed')
  t.notOk(validate(asLoaded('upstream: http://127.0.0.1:8000\npreset: django\nlisten: { port: 70000 }\n')), 'a port out of range')
})

