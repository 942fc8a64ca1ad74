import t from 'tap'
import { randomBytes } from 'node:crypto'
import { BUCKETS, EndedSet } from '../../src/store/ended-set.js'

const T0 = Date.UTC(2026, 0, 1)
const HOUR = 3_600_000
const MAX_AGE = 16 * HOUR

t.test('an ended id is found with its first reason; others are not', async (t) => {
  const set = new EndedSet(MAX_AGE)
  t.ok(set.add('a', 'logged_out', T0))
  t.notOk(set.add('a', 'ended_by_admin', T0 + 1), 'already ended: the first reason stays')
  t.equal(set.get('a', T0 + 2), 'logged_out')
  t.equal(set.get('b', T0 + 2), undefined)
  t.equal(set.size(T0 + 2), 1)
})

t.test('every end reason survives the round trip through its one-byte code', async (t) => {
  const { END_REASONS } = await import('../../src/domain/session.js')
  const set = new EndedSet(MAX_AGE)
  END_REASONS.forEach((reason, i) => set.add(`id${i}`, reason, T0))
  END_REASONS.forEach((reason, i) => t.equal(set.get(`id${i}`, T0), reason))
})

t.test('an ending is kept for maxAge, and goes with its whole bucket at most maxAge / BUCKETS later', async (t) => {
  const set = new EndedSet(MAX_AGE)
  const width = MAX_AGE / BUCKETS
  // Ended at the start and at the end of one bucket.
  const start = Math.ceil(T0 / width) * width
  set.add('early', 'logged_out', start)
  set.add('late', 'logged_out', start + width - 1)
  t.equal(set.get('early', start + MAX_AGE - 1), 'logged_out', 'kept for the whole of maxAge')
  t.equal(set.get('late', start + width - 1 + MAX_AGE - 1), 'logged_out')
  t.equal(set.get('early', start + width + MAX_AGE - 1), 'logged_out', 'its bucket is still kept')
  t.equal(set.get('early', start + width + MAX_AGE), undefined, 'then the bucket goes whole')
  t.equal(set.get('late', start + width + MAX_AGE), undefined)
  t.equal(set.size(start + width + MAX_AGE), 0)
})

t.test('a million random ids: every ended one found, no live one taken for ended, under 32 bytes each', async (t) => {
  const set = new EndedSet(14 * 24 * HOUR)
  const random = randomBytes(1_200_000 * 16).toString('base64url')
  const ids = Array.from({ length: 1_000_000 }, (_, i) => random.slice(i * 22, i * 22 + 22))
  const strangers = Array.from({ length: 200_000 }, (_, i) => random.slice((1_000_000 + i) * 22, (1_000_000 + i) * 22 + 22))
  // Spread over a day: several buckets, the earlier ones closed (rebuilt tight).
  ids.forEach((id, i) => set.add(id, 'concurrent_login_limit', T0 + Math.floor(i * 86_400_000 / ids.length)))
  const now = T0 + 86_400_000
  let found = 0
  for (const id of ids) if (set.get(id, now) === 'concurrent_login_limit') found++
  t.equal(found, ids.length)
  let wrong = 0
  for (const id of strangers) if (set.get(id, now) !== undefined) wrong++
  t.equal(wrong, 0)
  t.equal(set.size(now), ids.length)
  const perEntry = set.bytes() / ids.length
  t.ok(perEntry <= 32, `${perEntry.toFixed(1)} bytes per ended session`)
})

t.test('chunks and restore carry every ending over (a snapshot), and skip buckets that are over', async (t) => {
  const set = new EndedSet(MAX_AGE)
  const width = MAX_AGE / BUCKETS
  for (let i = 0; i < 1000; i++) set.add(`s${i}`, i % 2 === 0 ? 'logged_out' : 'replaced', T0 + i * 60_000)
  const now = T0 + 1000 * 60_000
  const chunks = [...set.chunks(now, 100)].map((c) => JSON.parse(JSON.stringify(c)) as [number, string, string])
  t.ok(chunks.length >= 10, 'at most 100 entries a chunk')
  const copy = new EndedSet(MAX_AGE)
  for (const c of chunks) copy.restore(c, now)
  for (let i = 0; i < 1000; i++) t.equal(copy.get(`s${i}`, now), i % 2 === 0 ? 'logged_out' : 'replaced')
  const later = new EndedSet(MAX_AGE)
  for (const c of chunks) later.restore(c, T0 + MAX_AGE + 2 * width)
  t.equal(later.size(T0 + MAX_AGE + 2 * width), set.size(T0 + MAX_AGE + 2 * width), 'restored as many as are still kept')
  t.equal(later.get('s0', T0 + MAX_AGE + 2 * width), undefined, 'the first bucket is over')
  for (const junk of [[1.5, '', ''], [1, 'AAAA', 'AA'], [1, 5, 'x']] as unknown as Array<[number, string, string]>) copy.restore(junk, now)
  t.equal(copy.size(now), 1000, 'junk chunks add nothing')
})
