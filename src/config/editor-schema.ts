import { ConfigSchema } from './schema.js'

/**
 * The configuration's JSON Schema for editors (`sessioncap schema`,
 * config/sessioncap.schema.json): the very schema that validates a file
 * (schema.ts), as JSON, made to judge the file *as written* rather than as
 * the loader sees it after presets and defaults:
 * - a key with a default is never required (the loader fills it in), and no
 *   top-level key is (a preset fills in `session` and `login`);
 * - `login` may also be written as the list of routes, or `auto`;
 * - our `expected` annotation (what the loader's messages say) is not JSON
 *   Schema: it becomes the description where the reference has no sentence.
 * `descriptions` are the configuration reference's sentences by key path
 * (`listen.port`, `login[].user.form`), from docs/configuration.md.
 */
export function editorSchema (descriptions: Readonly<Record<string, string>>): Record<string, unknown> {
  // JSON's own copy: TypeBox's symbols (its Kind) do not survive it, which is what we want.
  const schema = JSON.parse(JSON.stringify(ConfigSchema)) as Node
  delete schema.required
  const login = schema.properties?.login
  if (login !== undefined) {
    const routes = login.properties?.routes
    schema.properties = { ...schema.properties, login: { anyOf: [login, ...(routes === undefined ? [] : [routes]), { const: 'auto' }] } }
  }
  annotate(schema, '', descriptions)
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://github.com/sessioncap/sessioncap/blob/main/config/sessioncap.schema.json',
    title: 'sessioncap configuration',
    description: 'The configuration of sessioncap, a gateway that limits concurrent sessions per user (docs/configuration.md).',
    ...schema
  }
}

interface Node {
  type?: string
  properties?: Record<string, Node>
  patternProperties?: Record<string, Node>
  items?: Node
  anyOf?: Node[]
  required?: string[]
  default?: unknown
  description?: string
  expected?: string
  const?: unknown
}

/** Descriptions from the reference (else `expected`), required keys without a default only, depth first. */
function annotate (node: Node, path: string, descriptions: Readonly<Record<string, string>>): void {
  const sentence = descriptions[documentedPath(path)]
  if (path !== '') {
    if (sentence !== undefined) node.description = sentence
    else if (node.expected !== undefined && node.description === undefined) node.description = node.expected
  }
  delete node.expected
  if (node.properties !== undefined) {
    if (node.required !== undefined) {
      const required = node.required.filter((k) => node.properties?.[k]?.default === undefined)
      if (required.length > 0) node.required = required
      else delete node.required
    }
    for (const [k, child] of Object.entries(node.properties)) annotate(child, path === '' ? k : `${path}.${k}`, descriptions)
  }
  for (const child of Object.values(node.patternProperties ?? {})) annotate(child, `${path}.*`, descriptions)
  if (node.items !== undefined) annotate(node.items, `${path}[]`, descriptions)
  // A union's variants (`false` or a mapping; a number or a map by scope) describe the same key.
  for (const variant of node.anyOf ?? []) annotate(variant, path, sentence === undefined ? descriptions : { ...descriptions, [documentedPath(path)]: '' })
  if (node.description === '') delete node.description
}

/** A key path as the reference writes it: `login:` is the list of routes. */
function documentedPath (path: string): string {
  return path.replace(/^login\.routes(\[\])?/, 'login$1')
}

/**
 * The configuration reference's sentences by key path: each table row
 * `| \`key\` | default | meaning |`, as "meaning (default: …)", Markdown
 * kept as it is (the YAML language server renders it).
 */
export function referenceSentences (markdown: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of markdown.matchAll(/^\| `([^`]+)` \| (.*?) \| (.*) \|$/gm)) {
    const [, key, def, meaning] = m as unknown as [string, string, string, string]
    out[key] = def === '' || def === '–' || /^\*.*\*$/.test(def) ? meaning : `${meaning} (default: ${def})`
  }
  return out
}
