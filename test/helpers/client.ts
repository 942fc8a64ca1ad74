import { request, type Dispatcher } from 'undici'

export interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  setCookies: string[]
  text: string
  json: () => unknown
}

export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  /** Sent as application/x-www-form-urlencoded. */
  form?: Record<string, string>
  /** Sent as application/json. */
  json?: unknown
  body?: string | Buffer
}

/**
 * A device: one browser (or API client) with its own cookie jar. Cookies are
 * kept by name only, which is all the stand-in app needs; a Set-Cookie that
 * clears a cookie removes it, as a browser would.
 */
export class Device {
  readonly jar = new Map<string, string>()

  /**
   * `headers`: sent with every request (e.g. the `Host` a browser would name), under the request's own.
   * `dispatcher`: how to connect (e.g. an Agent that trusts a test's own certificate).
   */
  readonly base: string
  readonly kind: 'browser' | 'api'
  readonly headers: Record<string, string>
  readonly dispatcher: Dispatcher | undefined
  constructor (base: string, kind: 'browser' | 'api' = 'api', headers: Record<string, string> = {}, dispatcher?: Dispatcher) {
    this.base = base
    this.kind = kind
    this.headers = headers
    this.dispatcher = dispatcher
  }

  get sessionCookie (): string | undefined {
    return this.jar.get('sessionid')
  }

  async send (path: string, opts: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = {
      accept: this.kind === 'browser' ? 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' : 'application/json',
      ...this.headers,
      ...opts.headers
    }
    if (this.jar.size > 0 && headers.cookie === undefined) {
      headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    }
    let body: string | Buffer | undefined = opts.body
    if (opts.form !== undefined) {
      body = new URLSearchParams(opts.form).toString()
      headers['content-type'] ??= 'application/x-www-form-urlencoded'
    } else if (opts.json !== undefined) {
      body = JSON.stringify(opts.json)
      headers['content-type'] ??= 'application/json'
    }
    const res = await request(this.base + path, { method: (opts.method ?? (body === undefined ? 'GET' : 'POST')) as 'GET', headers, body, dispatcher: this.dispatcher })
    const text = await res.body.text()
    const raw = res.headers['set-cookie']
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
    for (const sc of setCookies) this.#apply(sc)
    return { status: res.statusCode, headers: res.headers, setCookies, text, json: (): unknown => JSON.parse(text) as unknown }
  }

  /** Signs in through the form login route. */
  async formLogin (username: string, password = 'secret'): Promise<Answer> {
    return await this.send('/admin/login/', { form: { username, password } })
  }

  /** Signs in through the JSON login route. */
  async apiLogin (email: string, password = 'secret'): Promise<Answer> {
    return await this.send('/api/login', { json: { email, password } })
  }

  /** Who the app thinks this device is: the user name, or the status the gateway/app answered. */
  async whoami (): Promise<string | number> {
    const r = await this.send('/api/me', { headers: { accept: 'application/json' } })
    return r.status === 200 ? (r.json() as { username: string }).username : r.status
  }

  #apply (setCookie: string): void {
    const [pair = '', ...attrs] = setCookie.split(';')
    const eq = pair.indexOf('=')
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    const clears = value === '' || value === '""' || attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a))
    if (clears) this.jar.delete(name)
    else this.jar.set(name, value)
  }
}
