import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { startHarness } from './helpers/harness.js'

const SIZE = 100 * 1024 * 1024
const CHUNK = Buffer.alloc(256 * 1024, 'z')

/** Peak resident memory growth of this process (gateway and app both live here) while `work` runs. */
async function peakGrowth (work: () => Promise<void>): Promise<number> {
  global.gc?.()
  const base = process.memoryUsage.rss()
  let peak = base
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 20)
  try {
    await work()
  } finally {
    clearInterval(timer)
  }
  return Math.max(peak, process.memoryUsage.rss()) - base
}

t.test('a 100 MB upload streams through: the app reads it while it is still being sent', async (t) => {
  const h = await startHarness(t, { realClock: true })
  let sent = 0
  let appHadBytesMidway = false
  const expected = createHash('sha256')
  const body = Readable.from((function * () {
    while (sent < SIZE) {
      if (sent === SIZE / 2) appHadBytesMidway = h.app.upload.received > 0
      sent += CHUNK.length
      expected.update(CHUNK)
      yield CHUNK
    }
  })())
  let answer: { bytes: number, sha256: string } | undefined
  const growth = await peakGrowth(async () => {
    const r = await request(`${h.base}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } })
    answer = await r.body.json() as { bytes: number, sha256: string }
  })
  t.same(answer, { bytes: SIZE, sha256: expected.digest('hex') }, 'every byte arrived, in order')
  t.ok(appHadBytesMidway, 'the app was reading before the client finished sending')
  t.ok(growth < SIZE / 2, `memory grew by ${(growth / 1048576).toFixed(1)} MB for a 100 MB body (bounded, not buffered)`)
})

t.test('a 100 MB download streams through: the client reads it while the app is still writing', async (t) => {
  const h = await startHarness(t, { realClock: true })
  let received = 0
  let appWrittenAtFirstChunk = -1
  const growth = await peakGrowth(async () => {
    const r = await request(`${h.base}/download?bytes=${SIZE}`)
    t.equal(r.headers['content-length'], String(SIZE))
    for await (const chunk of r.body) {
      if (appWrittenAtFirstChunk === -1) appWrittenAtFirstChunk = h.app.download.written
      received += (chunk as Buffer).length
    }
  })
  t.equal(received, SIZE)
  t.ok(appWrittenAtFirstChunk < SIZE / 2, `the first bytes arrived when the app had written ${(appWrittenAtFirstChunk / 1048576).toFixed(1)} MB`)
  t.ok(growth < SIZE / 2, `memory grew by ${(growth / 1048576).toFixed(1)} MB for a 100 MB body`)
})
