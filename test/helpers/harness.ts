import { Writable } from 'node:stream'
import { Agent } from 'undici'
import type { Test } from 'tap'
import { startLegacyApp, type LegacyApp } from '../fixtures/legacy-app.mjs'
import { loadConfigText } from '../../src/config/load.js'
import { createGateway, type Gateway } from '../../src/proxy/gateway.js'
import { Device } from './client.js'
import type { SessionStore } from '../../src/store/store.js'

/** The login and logout routes of the stand-in app, as an operator would write them. */
export const APP_ROUTES = `
session:
  cookie: sessionid
  alsoClear: [remember_me]
login:
  - { method: POST, path: /admin/login/, user: { form: username }, status: [302] }
  - { method: POST, path: /api/login, user: { json: /email }, caseInsensitive: true }
logout:
  - path: /admin/logout/
`

/** A clock the test moves by hand. */
export class Clock {
  t: number
  constructor (t = Date.UTC(2026, 0, 1)) { this.t = t }
  readonly now = (): number => this.t
  advance (ms: number): void { this.t += ms }
}

export interface Harness {
  /** The stand-in app (not started when the gateway fronts a real framework: then using it throws). */
  app: LegacyApp
  gateway: Gateway
  base: string
  clock: Clock
  /** Every log line the gateway wrote, raw. */
  logs: string[]
  device: (kind?: 'browser' | 'api') => Device
}

export interface HarnessOptions {
  /** YAML lines after upstream and listen; APP_ROUTES unless given. */
  yaml?: string
  appOptions?: Parameters<typeof startLegacyApp>[0]
  /** Use the real clock instead of a test clock. */
  realClock?: boolean
  /** A store built by the test instead of the configured one. */
  store?: SessionStore
  /** Put this gateway in front of an app another harness started (a fleet of gateways). */
  app?: LegacyApp
  /** Put it in front of another app altogether (a real framework): its URL. The stand-in app is not started. */
  upstream?: string
  /** Headers every device sends (e.g. `{ host: 'app.example.test' }` for an app that sets a Domain). */
  deviceHeaders?: Record<string, string>
  /** More keys of `listen` (e.g. `tls: { cert: …, key: … }, http2: true`). */
  listen?: string
  /** A certificate (PEM) devices trust: the gateway's own, with `listen.tls`. */
  ca?: Buffer
}

/** Starts the stand-in app and a gateway in front of it, both on loopback ports, closed at teardown. */
export async function startHarness (t: Test, opts: HarnessOptions = {}): Promise<Harness> {
  const app = opts.app ?? (opts.upstream !== undefined ? undefined : await startLegacyApp(opts.appOptions))
  // Closed even if the gateway below fails to start (a bad configuration in a test).
  if (opts.app === undefined && app !== undefined) t.teardown(async () => { await app.close() })
  const clock = new Clock()
  const logs: string[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)); cb() } })
  const yaml = opts.yaml ?? APP_ROUTES
  // Tests read the gateway's own log lines, written as the config says (level, redaction).
  const logLevel = /^log:/m.test(yaml) ? '' : 'log: { level: debug }\n'
  const listen = opts.listen === undefined ? '' : `, ${opts.listen}`
  const text = `upstream: ${opts.upstream ?? app?.url ?? ''}\nlisten: { host: 127.0.0.1, port: 0${listen} }\n${logLevel}${yaml}`
  const { config } = loadConfigText(text, 'test.yaml')
  const gateway = await createGateway(config, {
    now: opts.realClock === true ? Date.now : clock.now,
    logStream: sink,
    store: opts.store
  })
  const base = await gateway.listen()
  t.teardown(async () => { await gateway.close() })
  const appOrFail = app ?? new Proxy({} as LegacyApp, { get () { throw new Error('this harness fronts a real framework, not the stand-in app') } })
  const dispatcher = opts.ca === undefined ? undefined : new Agent({ connect: { ca: opts.ca } })
  if (dispatcher !== undefined) t.teardown(async () => { await dispatcher.close() })
  return { app: appOrFail, gateway, base, clock, logs, device: (kind = 'api') => new Device(base, kind, opts.deviceHeaders, dispatcher) }
}
