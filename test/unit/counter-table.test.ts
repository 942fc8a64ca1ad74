import t from 'tap'
import { CounterTable, fingerprintOf, KEPT, LOGINS_WINDOW_END } from '../../src/guard/counter-table.js'

/** A seeded generator, so a failure can be replayed. */
function random (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

t.test('the table agrees with a Map kept in recency order, through adds, finds, removals, growth and eviction', async (t) => {
  for (const max of [1, 2, 7, 64, 3000]) {
    const evicted: number[] = []
    const table = new CounterTable(max, () => { evicted.push(1) })
    // key "a:b" -> entry's kept value; insertion order of the Map = recency (oldest first)
    const model = new Map<string, number>()
    const rnd = random(max)
    // Few distinct low bits, so runs of colliding slots are long and removals shift entries back.
    const pick = (): [number, number] => [Math.floor(rnd() * max * 3) << 3, Math.floor(rnd() * 4)]
    let mismatches = 0
    for (let step = 0; step < 20_000; step++) {
      const [fa, fb] = pick()
      const name = `${fa}:${fb}`
      const op = rnd()
      if (op < 0.5) {
        const e = table.find(fa, fb)
        if ((e !== -1) !== model.has(name)) mismatches++
        if (e !== -1) {
          if (table.count(e, KEPT) !== model.get(name) || table.time(e, LOGINS_WINDOW_END) !== (model.get(name) as number) / 2) mismatches++
          const v = model.get(name) as number
          model.delete(name)
          model.set(name, v)
        } else {
          const added = table.add(fa, fb)
          t.equal(table.count(added, KEPT) + table.time(added, LOGINS_WINDOW_END), 0, 'a new entry holds nothing', { skip: step % 500 !== 0 })
          table.setCount(added, KEPT, step)
          table.setTime(added, LOGINS_WINDOW_END, step / 2)
          if (model.size === max) model.delete(model.keys().next().value as string)
          model.set(name, step)
        }
      } else if (op < 0.8) {
        const e = table.peek(fa, fb)
        if ((e !== -1) !== model.has(name)) mismatches++
        if (e !== -1) {
          table.remove(e)
          model.delete(name)
        }
      } else {
        const e = table.peek(fa, fb)
        if ((e === -1 ? undefined : table.count(e, KEPT)) !== model.get(name)) mismatches++
      }
      if (table.size !== model.size) mismatches++
    }
    t.equal(mismatches, 0, `max ${max}: every lookup, size and value as the model's`)
    const order = [...table.entries()].map((e) => table.count(e, KEPT))
    t.same(order, [...model.values()].reverse(), `max ${max}: the same recency order`)
    t.ok(table.size <= max, `max ${max}: bounded (${table.size})`)
    if (max < 3000) t.ok(evicted.length > 0, `max ${max}: the least recently used were dropped, and said so`)
    table.clear()
    t.equal(table.size, 0)
    t.equal(table.find(1, 2), -1)
  }
})

t.test('a table refuses a bound below one entry', async (t) => {
  t.throws(() => new CounterTable(0), RangeError)
  t.throws(() => new CounterTable(1.5), RangeError)
})

t.test('fingerprints: the kind, both parts and their split all count, and 200,000 keyed hashes share none', async (t) => {
  const fp = (kind: number, a: string, b?: string): string => {
    const out = new Int32Array(2)
    fingerprintOf(kind, a, b, out)
    return `${out[0] as number}:${out[1] as number}`
  }
  t.not(fp(1, 'alice'), fp(2, 'alice'), 'the kind')
  t.not(fp(1, 'alice', 'net'), fp(1, 'alicenet'), 'a pair is not its concatenation')
  t.not(fp(1, 'ali', 'cenet'), fp(1, 'alice', 'net'), 'where the pair splits')
  t.equal(fp(3, 'bob'), fp(3, 'bob'), 'the same key, the same fingerprint')
  const seen = new Set<string>()
  const firsts = new Set<number>()
  const out = new Int32Array(2)
  for (let i = 0; i < 200_000; i++) {
    // Keyed hashes look like this: 22 base64url characters.
    const name = Buffer.from(`${i}`.padStart(16, 'x')).toString('base64url').slice(0, 22)
    fingerprintOf(3, name, undefined, out)
    seen.add(`${out[0] as number}:${out[1] as number}`)
    firsts.add(out[0] as number)
  }
  t.equal(seen.size, 200_000, 'no two alike in 64 bits')
  // Each half alone behaves like 32 random bits: ~4.7 collisions expected among 200,000.
  t.ok(firsts.size > 200_000 - 50, `the first half alone nearly never collides (${200_000 - firsts.size} times)`)
})
