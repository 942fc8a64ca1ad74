import { readFileSync } from 'node:fs'
import { Value } from '@sinclair/typebox/value'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'
import type { TSchema } from '@sinclair/typebox'
import { isMap, isPair, isScalar, isSeq, LineCounter, parse as parseYamlValue, parseDocument, visit, type Document, type Node } from 'yaml'
import { ConfigSchema, expectedOf, type Config } from './schema.js'
import { ConfigError, keyPath, show, type Problem } from './problem.js'
import { maskEnvReferences, substituteEnv } from './env.js'
import { semanticProblems, type Locate } from './checks.js'
import { mergePreset, PRESETS, type PresetName } from './presets.js'
import { deepFreeze } from './freeze.js'
import { errors } from '../errors.js'

export interface LoadedConfig {
  config: Config
  /** Where a key path sits in the file, for problems found later (e.g. a port already in use). */
  locate: Locate
  file: string
  /** The configuration as it takes effect, written as a file would write it (durations as written): after presets, `${ENV}` and defaults (`check --print`). */
  effective: Readonly<Record<string, unknown>>
}

/** Reads, validates and freezes a configuration file. Throws `ConfigError` listing every problem. */
export function loadConfigFile (file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new errors.CONFIG_UNREADABLE(file, unreadableBecause((err as NodeJS.ErrnoException).code))
  }
  return loadConfigText(text, file, env)
}

/**
 * Validates YAML text. No side effects: nothing is opened, bound or resolved,
 * so `sessioncap check` is safe to run anywhere.
 */
export function loadConfigText (text: string, file = '<config>', env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const lineCounter = new LineCounter()
  const masked = maskEnvReferences(text)
  const doc = parseDocument(masked.text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true })
  const at = (offset: number | undefined): { line: number, column: number } => {
    const pos = lineCounter.linePos(offset ?? 0)
    return { line: pos.line, column: pos.col }
  }

  const syntax: Problem[] = doc.errors.map((e) => syntaxProblem(file, masked.text, e.code, e.pos[0], e.message, at))
  if (syntax.length > 0) throw new ConfigError(dedupe(syntax))

  // `login: [routes]` and `login: auto` are shorthands of `login: { routes, auto }`:
  // paths into the normalised form are mapped back to what the file wrote.
  let loginWritten: 'list' | 'auto' | 'mapping' = 'mapping'
  const asWritten = (segments: readonly (string | number)[]): (string | number)[] => {
    if (segments[0] !== 'login') return [...segments]
    if (loginWritten === 'list' && segments[1] === 'routes') return ['login', ...segments.slice(2)]
    if (loginWritten !== 'mapping') return ['login']
    return [...segments]
  }
  const locate: Locate = (segments) => ({ file, ...at(nodeOffset(doc, asWritten(segments))) })
  const problems: Problem[] = []
  substituteEnvInDocument(doc, masked.unmask, env, (node, message, segments) => {
    problems.push({ file, ...at(node.range?.[0]), path: keyPath(segments), message })
  })

  const raw: unknown = doc.toJS() ?? {}
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: 'expected a mapping of settings (key: value)' }])
  }

  const rawStore = (raw as { store?: unknown }).store
  const storeKeys = rawStore !== null && typeof rawStore === 'object' ? Object.keys(rawStore) : []
  let merged = raw as Record<string, unknown>
  if (typeof merged.preset === 'string' && !Object.hasOwn(PRESETS, merged.preset)) {
    // Alone: what the preset would have filled in is not missing too.
    const close = Object.keys(PRESETS).filter((k) => editDistance(k, (merged.preset as string).toLowerCase()) <= 3)
    throw new ConfigError([{ ...locate(['preset']), path: 'preset', message: `no preset ${JSON.stringify(merged.preset)}${close.length > 0 ? ` (did you mean ${close.join(' or ')}?)` : ''}; there are ${Object.keys(PRESETS).join(', ')} (sessioncap presets NAME shows one)` }])
  }
  const preset = typeof merged.preset === 'string' && Object.hasOwn(PRESETS, merged.preset) ? PRESETS[merged.preset as PresetName] : undefined
  if (preset !== undefined) merged = mergePreset(preset, merged)
  if (Array.isArray(merged.login)) { loginWritten = 'list'; merged = { ...merged, login: { routes: merged.login } } }
  if (merged.login === 'auto') { loginWritten = 'auto'; merged = { ...merged, login: { auto: true } } }
  const withDefaults = Value.Default(ConfigSchema, structuredClone(merged))
  for (const error of Value.Errors(ConfigSchema, withDefaults)) {
    const segments = asWritten(pointerSegments(error.path))
    // An unknown key is pointed at by its name, not its value.
    const where = error.type === ValueErrorType.ObjectAdditionalProperties
      ? { file, ...at(nodeOffset(doc, segments, true)) }
      : { file, ...at(nodeOffset(doc, segments)) }
    const note = error.type === ValueErrorType.ObjectRequiredProperty ? preset?.required?.[keyPath(segments)] : undefined
    problems.push({ ...where, path: keyPath(segments), message: note === undefined ? describe(error, segments) : `is required with preset: ${String(merged.preset)}: ${note}` })
  }
  for (const p of semanticProblems(withDefaults, { storeKeys })) {
    const segments = asWritten(p.segments)
    problems.push({ ...locate(p.segments), path: keyPath(segments), message: p.message })
  }
  if (problems.length > 0) throw new ConfigError(dedupe(problems))

  const effective = deepFreeze(structuredClone(withDefaults) as Record<string, unknown>)
  const config = Value.Decode(ConfigSchema, withDefaults)
  return { config: deepFreeze(config), locate, file, effective }
}

/**
 * A YAML syntax error, in words a new user acts on: a key written twice names
 * the key and both lines; a `{ … }` or `[ … ]` left open points at the line
 * where it opens (the parser notices it lines later).
 */
function syntaxProblem (file: string, text: string, code: string, offset: number, message: string, at: (o: number) => { line: number, column: number }): Problem {
  if (code === 'DUPLICATE_KEY') {
    const key = /^[^\s:#]+|^"[^"]*"|^'[^']*'/.exec(text.slice(offset))?.[0] ?? ''
    const first = firstKeyOffset(text, key, offset)
    const here = at(offset)
    if (first !== undefined) return { file, ...here, path: key, message: `written twice, on lines ${at(first).line} and ${here.line}: keep one` }
    return { file, ...here, path: key, message: 'written twice in the same mapping: keep one' }
  }
  const open = unclosedFlowAt(text, offset)
  if (open !== undefined) {
    const closing = text[open] === '{' ? '}' : ']'
    return { file, ...at(open), path: '', message: `YAML syntax: the ${text[open] === '{' ? '{ … }' : '[ … ]'} opened here is not closed (a missing "${closing}"?)` }
  }
  return { file, ...at(offset), path: '', message: `YAML syntax: ${firstLine(message)}` }
}

/** Where the same key first appears in the duplicate's own block mapping (same indentation, not ended by a line less indented). */
function firstKeyOffset (text: string, key: string, offset: number): number | undefined {
  if (key === '') return undefined
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1
  const indent = offset - lineStart
  if (!/^[ -]*$/.test(text.slice(lineStart, offset))) return undefined
  let found: number | undefined
  let pos = 0
  for (const line of text.slice(0, lineStart).split('\n')) {
    const body = line.replace(/^[ -]*/, '')
    const depth = line.length - body.length
    // A new item of a list at or above the key's depth starts another mapping.
    if (line.slice(0, depth).includes('-') && depth <= indent) found = undefined
    if (depth === indent && body.startsWith(`${key}:`)) found ??= pos + depth
    // A line less indented than the key ends its mapping: an earlier key there was another mapping's.
    else if (body !== '' && !body.startsWith('#') && depth < indent) found = undefined
    pos += line.length + 1
  }
  return found
}

/** The offset of the first `{` or `[` before `offset` that nothing closes before it (quotes and comments skipped). */
function unclosedFlowAt (text: string, offset: number): number | undefined {
  const stack: number[] = []
  let quote: string | undefined
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text[i] as string
    if (quote !== undefined) { if (c === quote) quote = undefined; continue }
    // A quote opens a quoted scalar only where a scalar starts (not the apostrophe of "don't").
    if ((c === '"' || c === "'") && (i === 0 || /[\s:{[,]/.test(text[i - 1] as string))) { quote = c; continue }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1] as string))) {
      const nl = text.indexOf('\n', i)
      i = nl === -1 ? text.length : nl
      continue
    }
    if (c === '{' || c === '[') stack.push(i)
    else if ((c === '}' || c === ']') && stack.length > 0) stack.pop()
  }
  return stack[0]
}

/** Why a file could not be read, in words (not an errno). */
function unreadableBecause (code: string | undefined): string {
  switch (code) {
    case 'ENOENT': return 'there is no such file (pass --config with the path of your configuration file)'
    case 'EISDIR': return 'it is a directory, not a file'
    case 'EACCES': case 'EPERM': return 'permission denied (run as a user that may read it)'
    default: return `it cannot be read (${code ?? 'unknown error'})`
  }
}

function firstLine (message: string): string {
  return message.split('\n')[0] ?? message
}

/** `/login/0/user` → `['login', 0, 'user']` */
function pointerSegments (pointer: string): (string | number)[] {
  if (pointer === '') return []
  return pointer.slice(1).split('/').map((s) => {
    const key = s.replaceAll('~1', '/').replaceAll('~0', '~')
    return /^(0|[1-9][0-9]*)$/.test(key) ? Number(key) : key
  })
}

/**
 * The offset of the node at a key path; for a key the schema does not know
 * (or a missing one) the closest place that exists: the key itself, or its parent.
 */
function nodeOffset (doc: Document, segments: readonly (string | number)[], atKey = false): number {
  let node: unknown = doc.contents
  let offset = (doc.contents)?.range?.[0] ?? 0
  for (const [i, segment] of segments.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment))
      if (pair === undefined) return offset
      if (atKey && i === segments.length - 1) return (pair.key as Node).range?.[0] ?? offset
      const valueNode = pair.value as Node | null
      // Point at the value when there is one, else at the key.
      offset = valueNode?.range?.[0] ?? (pair.key as Node).range?.[0] ?? offset
      if (valueNode == null) return (pair.key as Node).range?.[0] ?? offset
      node = valueNode
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment] as Node | undefined
      if (item === undefined) return offset
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      return offset
    }
  }
  return offset
}

type ReportEnv = (node: Node, message: string, segments: (string | number)[]) => void

function substituteEnvInDocument (doc: Document, unmask: (v: string) => string, env: NodeJS.ProcessEnv, report: ReportEnv): void {
  visit(doc, {
    Scalar (key, node, path) {
      if (typeof node.value !== 'string') return
      const original = unmask(node.value)
      // Keys are names, not values: they are never substituted.
      if (key === 'key') { node.value = original; return }
      const result = substituteEnv(original, env)
      if (result === undefined) return
      if (result.missing.length > 0) {
        const names = result.missing.map((n) => `$${n}`).join(', ')
        report(node, `environment variable ${names} is not set (write \${NAME:-fallback} for a default)`, scalarPath(path, node))
      }
      // An unquoted `port: ${PORT}` should become the number 8080, as if written there.
      node.value = result.whole && node.type === 'PLAIN' ? scalarValue(result.value) : result.value
    }
  })
}

function scalarValue (text: string): unknown {
  try {
    const v: unknown = parseYamlValue(text)
    return v === null || typeof v === 'object' ? text : v
  } catch {
    return text
  }
}

/** The key path of a scalar from the ancestors `visit` hands us. */
function scalarPath (path: readonly unknown[], node: Node): (string | number)[] {
  const out: (string | number)[] = []
  for (let i = 0; i < path.length; i++) {
    const step = path[i]
    if (isPair(step) && isScalar(step.key)) out.push(String(step.key.value))
    else if (isSeq(step)) out.push(step.items.indexOf((path[i + 1] ?? node)))
  }
  return out
}

const TYPE_WORDS: Partial<Record<ValueErrorType, (e: ValueError, segments: (string | number)[]) => string>> = {
  [ValueErrorType.ObjectAdditionalProperties]: (e, segments) => unknownKey(e, segments),
  [ValueErrorType.ObjectRequiredProperty]: () => 'is required',
  [ValueErrorType.ObjectMinProperties]: (e) => `expected ${expectedOf(e.schema) ?? 'more keys'}`,
  [ValueErrorType.ObjectMaxProperties]: (e) => `expected ${expectedOf(e.schema) ?? 'fewer keys'}`,
  [ValueErrorType.ArrayMinItems]: (e) => `expected ${expectedOf(e.schema) ?? `at least ${String(e.schema.minItems)} item(s)`}`
}

/** Turns a schema error into "expected …, got …". */
function describe (error: ValueError, segments: (string | number)[]): string {
  const special = TYPE_WORDS[error.type]
  if (special !== undefined) {
    if (error.type === ValueErrorType.ObjectRequiredProperty) {
      const hint = expectedOf(error.schema)
      return hint === undefined ? 'is required' : `is required: ${hint}`
    }
    return special(error, segments)
  }
  const expected = expectedOf(error.schema) ?? fallbackExpected(error.schema)
  return `expected ${expected}, got ${isSecret(segments) ? 'a value not shown (it is a secret)' : show(error.value)}`
}

/** Values never repeated in a message (they end up in logs on a reload): tokens, secrets, URLs and headers that may carry credentials. */
function isSecret (segments: (string | number)[]): boolean {
  const path = segments.join('.')
  return /^(secret|admin\.token|store\.password|store\.url|audit\.webhook|audit\.webhookHeaders|ended\.upstreamLogout\.headers)(\.|$)/.test(path)
}

function unknownKey (error: ValueError, segments: (string | number)[]): string {
  const name = String(segments[segments.length - 1])
  const known = Object.keys((error.schema as { properties?: object }).properties ?? {})
  const close = known.filter((k) => editDistance(k.toLowerCase(), name.toLowerCase()) <= 2)
  const hint = close.length > 0 ? `did you mean ${close.join(' or ')}?` : `expected one of ${known.join(', ')}`
  return `unknown key (${hint})`
}

function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length] as number
}

function fallbackExpected (schema: TSchema): string {
  const type = (schema as { type?: unknown }).type
  if (type === 'array') return 'a list'
  if (type === 'object') return 'a mapping'
  if (type === 'integer') return 'a whole number'
  if (typeof type === 'string') return `a ${type}`
  return 'another value'
}


/** A union reports its own error and its members' errors at the same place; keep one per place. */
function dedupe (problems: Problem[]): Problem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.path}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  }).sort((a, b) => a.line - b.line || a.column - b.column)
}
