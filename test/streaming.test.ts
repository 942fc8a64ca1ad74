import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startLegacyApp } from './fixtures/legacy-app.mjs'
import { APP_ROUTES } from './helpers/harness.js'
import { startGatewayProcess } from './helpers/gateway-process.js'

const SIZE = 100 * 1024 * 1024
const CHUNK = Buffer.alloc(256 * 1024, 'z')
const MB = 1024 * 1024

/**
 * The gateway runs in its own process, so its peak resident memory (VmHWM)
 * is its own: a gateway that buffered a 100 MB body would need 100 MB more.
 */
t.test('100 MB up and down stream through the gateway in constant memory', async (t) => {
  const app = await startLegacyApp()
  t.teardown(async () => { await app.close() })
  const gw = await startGatewayProcess(t, `upstream: ${app.url}\n${APP_ROUTES}`)
  // Warm up, so the baseline includes everything a small request needs.
  for (let i = 0; i < 20; i++) {
    const r = await request(`${gw.base}/download?bytes=${MB}`)
    await r.body.dump()
  }
  const baseline = gw.peakRss()

  t.test('upload: the app reads it while it is still being sent', async (t) => {
    let sent = 0
    let appHadBytesMidway = false
    const expected = createHash('sha256')
    const body = Readable.from((function * () {
      while (sent < SIZE) {
        if (sent === SIZE / 2) appHadBytesMidway = app.upload.received > 0
        sent += CHUNK.length
        expected.update(CHUNK)
        yield CHUNK
      }
    })())
    const r = await request(`${gw.base}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    t.same(await r.body.json(), { bytes: SIZE, sha256: expected.digest('hex') }, 'every byte arrived, in order')
    t.ok(appHadBytesMidway, 'the app was reading before the client finished sending')
  })

  t.test('download: the client reads it while the app is still writing', async (t) => {
    let received = 0
    let appWrittenAtFirstChunk = -1
    const r = await request(`${gw.base}/download?bytes=${SIZE}`)
    t.equal(r.headers['content-length'], String(SIZE))
    for await (const chunk of r.body) {
      if (appWrittenAtFirstChunk === -1) appWrittenAtFirstChunk = app.download.written
      received += (chunk as Buffer).length
    }
    t.equal(received, SIZE)
    t.ok(appWrittenAtFirstChunk < SIZE / 2, `the first bytes arrived when the app had written ${(appWrittenAtFirstChunk / MB).toFixed(1)} MB`)
  })

  await t.test('the gateway\'s peak memory barely moved', async (t) => {
    const growth = gw.peakRss() - baseline
    t.ok(growth < 40 * MB, `peak RSS grew by ${(growth / MB).toFixed(1)} MB over 200 MB of traffic (baseline ${(baseline / MB).toFixed(0)} MB)`)
  })
})
