import { request } from 'undici'
import type { Config } from '../config/schema.js'

/**
 * `sessioncap check --probe`: asks the app what the configuration assumes —
 * that it answers, and for each login route that its form page exists, what
 * cookies it sets, and that the form has the user field — and says what
 * looks wrong before users find out. Read-only: GET requests only, no login
 * is attempted. The two most common mistakes it catches: a wrong login path
 * (the app answers 404 there) and a wrong session cookie name (the app sets
 * a framework's own cookie under another name).
 */

export interface ProbeLine {
  ok: boolean
  text: string
}

/** Cookies that tell which framework answers, and the name its session cookie has. */
const FRAMEWORK_COOKIES: ReadonlyArray<{ cookie: RegExp, framework: string, session: string, preset?: string }> = [
  { cookie: /^csrftoken$/, framework: 'Django', session: 'sessionid', preset: 'django' },
  { cookie: /^sessionid$/, framework: 'Django', session: 'sessionid', preset: 'django' },
  { cookie: /^PHPSESSID$/, framework: 'PHP', session: 'PHPSESSID', preset: 'php' },
  { cookie: /^laravel_session$|^XSRF-TOKEN$/, framework: 'Laravel', session: 'laravel_session', preset: 'laravel' },
  { cookie: /^JSESSIONID$/, framework: 'a Java servlet container', session: 'JSESSIONID', preset: 'spring-boot' },
  { cookie: /^connect\.sid$/, framework: 'Express (express-session)', session: 'connect.sid', preset: 'express-session' },
  { cookie: /^\.AspNetCore\./, framework: 'ASP.NET Core', session: '.AspNetCore.Identity.Application', preset: 'aspnet-core' },
  { cookie: /^_[A-Za-z0-9]+_session$/, framework: 'Rails', session: '(this very name)', preset: 'rails' }
]

const TIMEOUT_MS = 5_000

export async function probe (config: Config): Promise<ProbeLine[]> {
  const lines: ProbeLine[] = []
  const cookie = config.session.cookie
  const base = config.upstream.replace(/\/$/, '')
  const seenNames = new Set<string>()
  let reachable = false
  const routes = config.login.routes
  const targets = routes.length > 0 ? routes.map((r) => ({ path: r.path, form: r.user.form })) : [{ path: '/', form: undefined }]
  // A route the app lacks is a mistake when it is the only one (or all are missing); beside one that
  // exists it is one the app does not use (a preset lists the framework's usual routes).
  const missing: Array<{ line: ProbeLine, where: string, status: number }> = []
  for (const route of targets) {
    let answer
    try {
      answer = await request(`${base}${route.path}`, { method: 'GET', headers: { accept: 'text/html' }, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS })
    } catch (err) {
      lines.push({ ok: false, text: `the app does not answer at ${base}${route.path} (${(err as Error).message}): is upstream right, and the app running?` })
      break
    }
    reachable = true
    const body = (await answer.body.text()).slice(0, 1_000_000)
    const names = setCookieNames(answer.headers['set-cookie'])
    for (const n of names) seenNames.add(n)
    const where = `GET ${route.path}`
    if (answer.statusCode === 404 || answer.statusCode === 410) {
      const line = { ok: false, text: `${where}: ${answer.statusCode}: the app has no page there: is login[].path right? (the path the sign-in form posts to, as the browser shows it)` }
      missing.push({ line, where, status: answer.statusCode })
      lines.push(line)
      continue
    }
    lines.push({ ok: answer.statusCode < 500, text: `${where}: ${answer.statusCode}${names.length > 0 ? `, sets ${names.join(', ')}` : ', sets no cookie'}` })
    if (route.form !== undefined && answer.statusCode < 300 && /<form/i.test(body)) {
      const has = new RegExp(`name\\s*=\\s*["']?${escapeRegex(route.form)}["'\\s>]`, 'i').test(body)
      if (has) lines.push({ ok: true, text: `${where}: the form has the field "${route.form}"` })
      else lines.push({ ok: false, text: `${where}: the form has no field named "${route.form}"${fieldsOf(body)}: is login[].user.form right?` })
    }
  }
  if (!reachable) return lines
  if (missing.length < targets.length) {
    for (const m of missing) {
      m.line.ok = true
      m.line.text = `${m.where}: ${m.status}: not a page of this app (another login route is): fine`
    }
  }
  if (seenNames.has(cookie)) {
    lines.push({ ok: true, text: `the session cookie ${cookie} was set` })
  } else {
    const hint = FRAMEWORK_COOKIES.find((f) => [...seenNames].some((n) => f.cookie.test(n)) && f.session !== cookie && !(f.framework === 'Rails' && seenNames.has(cookie)))
    if (hint !== undefined) {
      const name = [...seenNames].find((n) => hint.cookie.test(n)) as string
      const session = hint.framework === 'Rails' ? name : hint.session
      lines.push({ ok: false, text: `the app sets ${name}: it looks like ${hint.framework}, whose session cookie is ${session}, but session.cookie is ${cookie}${hint.preset === undefined ? '' : ` (preset: ${hint.preset} has its defaults)`}` })
    } else {
      lines.push({ ok: true, text: `the session cookie ${cookie} was not set by these pages (many apps set it only when a user signs in: sign in once through the gateway in mode: observe and look for "login admitted")` })
    }
  }
  return lines
}

function setCookieNames (header: string | string[] | undefined): string[] {
  const all = header === undefined ? [] : Array.isArray(header) ? header : [header]
  return [...new Set(all.map((c) => c.slice(0, Math.max(0, c.indexOf('='))).trim()).filter((n) => n !== ''))]
}

function fieldsOf (body: string): string {
  const names = [...new Set([...body.matchAll(/<input[^>]*\bname\s*=\s*["']?([^"'\s>]+)/gi)].map((m) => m[1] as string))].filter((n) => !/csrf|token/i.test(n)).slice(0, 6)
  return names.length === 0 ? '' : ` (it has ${names.join(', ')})`
}

function escapeRegex (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
