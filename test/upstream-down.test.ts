import t from 'tap'
import { request } from 'undici'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { loadConfigText } from '../src/config/load.js'
import { createGateway } from '../src/proxy/gateway.js'
import { APP_ROUTES, startHarness } from './helpers/harness.js'

t.test('a dead app gets the client a short 502, under load too, and the gateway keeps running', async (t) => {
  // Start the app to learn a free port, then stop it: nothing listens there.
  const app = await startLegacyApp()
  await app.close()
  const { config } = loadConfigText(`upstream: ${app.url}\nlisten: { host: 127.0.0.1, port: 0 }\nlog: { level: silent }\n${APP_ROUTES}`)
  const gateway = await createGateway(config)
  const base = await gateway.listen()
  t.teardown(async () => { await gateway.close() })

  const one = await request(`${base}/anything`)
  t.equal(one.statusCode, 502)
  t.equal(one.headers['content-type'], 'text/plain; charset=utf-8')
  t.equal(await one.body.text(), 'the application is not reachable (SESSIONCAP_ERR_UPSTREAM_UNREACHABLE)\n')

  // Many at once, logins among them (the reported crash: http-proxy #460).
  const statuses = await Promise.all(Array.from({ length: 300 }, async (_, i) => {
    const r = await request(`${base}/${i % 3 === 0 ? 'admin/login/' : 'x'}`, {
      method: i % 3 === 0 ? 'POST' : 'GET',
      body: i % 3 === 0 ? 'username=alice&password=x' : undefined,
      headers: { 'content-type': 'application/x-www-form-urlencoded' }
    })
    await r.body.text()
    return r.statusCode
  }))
  t.ok(statuses.every((s) => s === 502), 'every one answered 502')

  // The app comes back on the same port: the gateway proxies again.
  const back = await startLegacyApp({ port: app.port })
  t.teardown(async () => { await back.close() })
  const ok = await request(`${base}/status/200`)
  await ok.body.text()
  t.equal(ok.statusCode, 200)
})

t.test('an app slower than proxy.timeout gets the client a 504', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}proxy: { timeout: 300ms }\n` })
  const r = await request(`${h.base}/slow?ms=3000`)
  t.equal(r.statusCode, 504)
  t.match(await r.body.text(), /SESSIONCAP_ERR_UPSTREAM_TIMEOUT/)
  const fine = await request(`${h.base}/slow?ms=10`)
  await fine.body.text()
  t.equal(fine.statusCode, 200)
})
