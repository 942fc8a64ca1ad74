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
 * What the peak may grow by: well under the 100 MB a gateway that buffered
 * one body would add. Measured per phase (heap, external, RSS, sampled every
 * 5 ms in the gateway process): the heap stays flat, the growth is all
 * Buffers (external memory), and nearly all of them are dead chunks already
 * forwarded, waiting for a collection. With a GC every 5 ms the gateway's
 * live data in flight is ~4 MB. When they are collected depends on V8:
 * Node 20 and 22 (V8 11.3, 12.4) run a young-generation GC about every 32 MB
 * of new Buffers ("external memory pressure" in --trace-gc): external memory
 * peaked ~20 MB up; Node 24 (V8 13.6) runs none, and frees them with a full GC once
 * external memory has grown by ~64 MB: RSS grew by 47-63 MB in five runs.
 * That ceiling does not scale with the traffic: 400 MB streamed one way, or
 * four 100 MB uploads at once, grew it by the same ~60-68 MB. Not streams'
 * highWaterMark (16 -> 64 KiB in Node 22): setting it back to 16 KiB
 * changed nothing, nor did the young generation's size (--max-semi-space-size).
 */
const MAX_GROWTH = 80 * MB

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
    t.ok(growth < MAX_GROWTH, `peak RSS grew by ${(growth / MB).toFixed(1)} MB over 200 MB of traffic (baseline ${(baseline / MB).toFixed(0)} MB)`)
  })
})
