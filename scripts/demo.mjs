#!/usr/bin/env node
// `npm run demo`: the stand-in legacy app and sessioncap in front of it, with
// one session per account, and what to click to see a session get ended.
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { startLegacyApp } from '../test/fixtures/legacy-app.mjs'

let gatewayModule
try {
  gatewayModule = await import('../dist/index.js')
} catch {
  process.stderr.write('sessioncap is not built yet: run `npm install` first (it compiles src/ into dist/).\n')
  process.exit(1)
}
const { loadConfigFile, createGateway, ConfigError } = gatewayModule

/** The wanted port if it is free, else any free one (this machine may run other services). */
async function portNear (wanted, host) {
  const tryPort = (port) => new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(undefined))
    s.listen(port, host, () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
  return (await tryPort(wanted)) ?? (await tryPort(0))
}

const host = process.env.DEMO_HOST ?? '127.0.0.1'
const app = await startLegacyApp({ port: await portNear(8000, '127.0.0.1') })
process.env.DEMO_APP_URL = app.url
process.env.DEMO_PORT = String(await portNear(Number(process.env.DEMO_PORT ?? 8080), host))

const file = fileURLToPath(new URL('../config/demo.yaml', import.meta.url))
let loaded
try {
  loaded = loadConfigFile(file)
} catch (err) {
  process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `${err.stack}\n`)
  process.exit(2)
}
const gateway = await createGateway(loaded.config)
const address = await gateway.listen()
const url = address.replace('127.0.0.1', 'localhost')

process.stdout.write(`
  sessioncap demo: one session per account, you choose which
  -----------------------------------------------------------
  the app (no gateway):    ${app.url}
  the app via sessioncap:  ${url}        <- use this one

  1. In browser A open ${url}/admin/login/ and sign in as "alice" (any password).
  2. In browser B (another browser, or a private window) sign in as "alice" too:
     one session per account, so B is asked which device to sign out.
  3. In browser B tick browser A's session and press "Sign out selected".
  4. Back in browser A, reload the page: it is signed out, and told so, by which
     device, from where and when. ${url}/.sessioncap/sessions lists
     the sessions of whoever is signed in. Sign in as "bob" anywhere: alice is
     not affected.

  Or with curl (scripts are not asked: the least recently used session ends, and
  it gets a 401 instead of a page):
    curl -si -c a.txt -H 'content-type: application/json' -d '{"email":"alice","password":"x"}' ${url}/api/login
    curl -si -c b.txt -H 'content-type: application/json' -d '{"email":"alice","password":"x"}' ${url}/api/login
    curl -si -b a.txt ${url}/api/me      # 401 {"error":"session_ended",...}

  The gateway's log follows (sessions appear as short keyed hashes). Ctrl-C stops.

`)

const stop = async () => {
  await gateway.close()
  await app.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
