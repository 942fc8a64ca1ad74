import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Mustache from 'mustache'

/** Every file a template folder may hold; a folder may replace any of them and keeps the defaults of the others. */
export const TEMPLATE_FILES = ['layout.html', 'style.css', 'choose.html', 'sessions.html', 'ended.html'] as const
export type TemplateFile = typeof TEMPLATE_FILES[number]
export type PageName = 'choose' | 'sessions' | 'ended'

/** The templates shipped with sessioncap (templates/ at the package's root, next to dist/ and src/). */
export const DEFAULT_TEMPLATES = fileURLToPath(new URL('../../templates/', import.meta.url))

/** A value a template may show: Mustache escapes every {{value}} for HTML. */
export type View = Record<string, unknown>

/**
 * The pages' Mustache templates: the defaults, with any file of the
 * operator's folder (`pages.templates`) in place of its default. Read and
 * parsed once at start, so a broken template stops the gateway at start
 * rather than on a user's screen.
 *
 * The stylesheet is rendered once (it only uses `accent`) and inlined in
 * every page; its hash goes into the Content-Security-Policy, which then
 * allows that one stylesheet and nothing else.
 */
export class PageTemplates {
  readonly #files: Record<TemplateFile, string>
  readonly style: string
  /** For `style-src` in the Content-Security-Policy. */
  readonly styleHash: string

  constructor (folder: string | undefined, look: { accent: string }) {
    this.#files = readTemplates(folder)
    this.style = Mustache.render(this.#files['style.css'], look).trim()
    this.styleHash = `'sha256-${createHash('sha256').update(this.style).digest('base64')}'`
  }

  render (page: PageName, view: View & { heading: string, title: string }): string {
    const body = Mustache.render(this.#files[`${page}.html`], view, {}, { escape: escapeHtml })
    return Mustache.render(this.#files['layout.html'], { title: view.title, heading: view.heading, page, style: this.style, body }, {}, { escape: escapeHtml })
  }
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/**
 * Escapes for HTML text and quoted attribute values (every attribute of the
 * templates is quoted). Mustache's own escaper also turns / and = into
 * entities, which makes every link in the source unreadable for nothing.
 */
function escapeHtml (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c)
}

function readTemplates (folder: string | undefined): Record<TemplateFile, string> {
  const out = {} as Record<TemplateFile, string>
  for (const name of TEMPLATE_FILES) {
    const own = folder === undefined ? undefined : join(folder, name)
    out[name] = readFileSync(own !== undefined && existsSync(own) ? own : join(DEFAULT_TEMPLATES, name), 'utf8')
  }
  return out
}

/** What is wrong with a template folder, for the configuration check: one message per problem. */
export function templateFolderProblems (folder: string): string[] {
  if (!existsSync(folder)) return [`no such folder: ${folder}`]
  if (!statSync(folder).isDirectory()) return [`not a folder: ${folder}`]
  const problems: string[] = []
  const known = new Set<string>(TEMPLATE_FILES)
  const found = readdirSync(folder).filter((f) => /\.(html|css)$/.test(f))
  for (const file of found) {
    if (!known.has(file)) {
      problems.push(`${file} is not a template sessioncap uses (expected any of ${TEMPLATE_FILES.join(', ')})`)
      continue
    }
    try {
      Mustache.parse(readFileSync(join(folder, file), 'utf8'))
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message.split('\n')[0] ?? 'not a Mustache template'}`)
    }
  }
  if (found.every((f) => !known.has(f))) problems.push(`holds none of ${TEMPLATE_FILES.join(', ')}`)
  return problems
}

/** A template the gateway could not use at start. */
export interface TemplateProblem {
  /** Whether the file is one of sessioncap's own (then the installed package is incomplete, not the configuration wrong). */
  builtIn: boolean
  file: string
  message: string
}

/**
 * Reads and parses every template the pages will use, as `PageTemplates`
 * does at start: the operator's where the folder has one, the built-in one
 * otherwise. A missing built-in template means a package that forgot its
 * templates/ folder: the gateway would fail at start (`ENOENT …
 * layout.html`), so `sessioncap check` must fail too.
 */
export function templateProblems (folder: string | undefined): TemplateProblem[] {
  const problems: TemplateProblem[] = []
  for (const name of TEMPLATE_FILES) {
    const own = folder === undefined ? undefined : join(folder, name)
    const builtIn = own === undefined || !existsSync(own)
    const file = builtIn ? join(DEFAULT_TEMPLATES, name) : own
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err)
      problems.push({ builtIn, file, message: builtIn ? `cannot read sessioncap's built-in template (${code}): the installed package is incomplete; reinstall it` : `cannot read the template (${code})` })
      continue
    }
    try {
      Mustache.parse(text)
    } catch (err) {
      problems.push({ builtIn, file, message: `not a Mustache template: ${(err as Error).message.split('\n')[0] ?? ''}` })
    }
  }
  return problems
}
