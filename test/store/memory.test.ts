import t from 'tap'
import { MemoryStore } from '../../src/store/memory-store.js'
import { CONTRACT_TIMEOUTS, storeContract } from './contract.js'

storeContract(t, 'memory', async (t, timeouts) => {
  const store = new MemoryStore({ maxSessions: 10_000, timeouts })
  t.teardown(async () => { await store.close() })
  return store
})

const T0 = Date.UTC(2026, 0, 1)

t.test('memory: under maxSessions pressure the least recently used live records go; ended ones are all kept; the log says so', async (t) => {
  const warnings: Array<{ message: string, details?: Record<string, unknown> }> = []
  const store = new MemoryStore({
    maxSessions: 10,
    timeouts: CONTRACT_TIMEOUTS,
    events: { warn: (message, details) => { warnings.push({ message, details }) } }
  })
  // 4 ended records: each of alice's earlier sessions is ended by the next one.
  for (let i = 0; i < 5; i++) await store.admit({ user: 'alice', id: `a${i}`, now: T0 + i, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.same(await store.stats(T0 + 10), { live: 1, ended: 4, aliases: 0 })
  // 20 more users: far more than fits.
  for (let i = 0; i < 20; i++) await store.admit({ user: `u${i}`, id: `u${i}`, now: T0 + 100 + i, limit: 1, policy: 'evict-idlest', replaces: [] })
  const stats = await store.stats(T0 + 200)
  t.equal(stats.ended, 4, 'every ended session is still known')
  t.equal(stats.live, 10, 'the bound on live sessions holds')
  for (let i = 0; i < 4; i++) t.equal((await store.check(`a${i}`, T0 + 300)).state, 'ended', `a${i} is still refused`)
  t.equal((await store.check('u19', T0 + 300)).state, 'live', 'the most recently used record is kept')
  t.equal((await store.check('u0', T0 + 300)).state, 'unknown', 'the least recently used record was dropped')
  t.match(warnings[0], { message: /dropped the least recently used live sessions/, details: { maxSessions: 10 } })
  t.ok(warnings.length <= 2, 'warned once per minute, not per eviction')
})

t.test('memory: a flood of ended sessions does not push other users\' live sessions out', async (t) => {
  const warnings: string[] = []
  const store = new MemoryStore({ maxSessions: 5, timeouts: CONTRACT_TIMEOUTS, events: { warn: (m) => { warnings.push(m) } } })
  await store.admit({ user: 'bob', id: 'bob', now: T0, limit: 1, policy: 'evict-idlest', replaces: [] })
  for (let i = 0; i < 50; i++) await store.admit({ user: 'mallory', id: `m${i}`, now: T0 + i, limit: 1, policy: 'evict-oldest', replaces: [] })
  for (let i = 0; i < 49; i++) t.equal((await store.check(`m${i}`, T0 + 100)).state, 'ended')
  t.equal((await store.check('bob', T0 + 100)).state, 'live', 'bob is still tracked')
  t.notOk(warnings.some((w) => /dropped the least recently used/.test(w)), 'no live session was dropped for them')
})

t.test('memory: an unlimited user with many sessions is handled without scanning them all per login', async (t) => {
  const store = new MemoryStore({ maxSessions: 100_000, timeouts: CONTRACT_TIMEOUTS })
  for (let i = 0; i < 20_000; i++) await store.admit({ user: 'bot', id: `b${i}`, now: T0 + i, limit: 0, policy: 'evict-idlest', replaces: [] })
  t.equal((await store.sessionsOf('bot', T0 + 30_000)).length, 20_000)
  t.equal((await store.end(['b5'], 'logged_out', T0 + 30_001)).length, 1)
  t.equal((await store.sessionsOf('bot', T0 + 30_002)).length, 19_999)
})

t.test('memory: a snapshot round trip keeps pending sessions, devices and who ended what; junk lines are skipped', async (t) => {
  const T0 = Date.UTC(2026, 0, 1)
  const store = new MemoryStore({ maxSessions: 100, timeouts: CONTRACT_TIMEOUTS })
  await store.admit({ user: 'alice', id: 'a', now: T0, limit: 1, policy: 'ask', replaces: [], meta: { device: 'Firefox 133 on Linux', ip: '192.0.2.x' } })
  await store.admit({ user: 'alice', id: 'b', now: T0 + 1, limit: 1, policy: 'ask', askTimeout: 300_000, replaces: [], meta: { device: 'Safari 17 on iOS 17' } })
  await store.admit({ user: 'bob', id: 'c', now: T0 + 2, limit: 1, policy: 'evict-idlest', replaces: [] })
  await store.end(['c'], 'ended_by_admin', T0 + 3, { at: T0 + 3, device: 'the console' })
  await store.end(['d'], 'logged_out', T0 + 4)
  const lines = [...store.records(T0 + 5)].map((r) => JSON.parse(JSON.stringify(r)) as unknown)

  const copy = new MemoryStore({ maxSessions: 100, timeouts: CONTRACT_TIMEOUTS })
  for (const junk of [null, 5, 'x', [], ['s'], ['s', 'k', null], ['s', 'k', { user: 1 }], ['e', 'k', 'soon'], ['E', 'k', -1], ['a', 'k', 3], ['z', 'k'], ['f'], ['f', 'x', 1, 2], ['f', 1, 'AAAA', 'AA'], ['b', 'k', { at: 'x' }]]) copy.restore(junk, T0 + 5)
  for (const line of lines) copy.restore(line, T0 + 5)
  t.same(await copy.sessionsOf('alice', T0 + 5), await store.sessionsOf('alice', T0 + 5))
  t.same(await copy.check('b', T0 + 5), { state: 'pending', user: 'alice', slot: 'b', until: T0 + 1 + 300_000 })
  t.same(await copy.check('c', T0 + 5), { state: 'ended', reason: 'ended_by_admin', key: 'c', user: 'bob', by: { at: T0 + 3, device: 'the console' } }, 'who ended it and whose it was')
  t.same(await copy.check('d', T0 + 5), { state: 'ended', reason: 'logged_out', key: 'd' })
  t.equal((await copy.stats(T0 + 5)).live, 2, 'nothing came from the junk')
})

t.test('memory: at store.maxEnded new sign-ins are refused, no ending is forgotten, and the log warns before', async (t) => {
  const warnings: string[] = []
  const errorsLogged: string[] = []
  const store = new MemoryStore({
    maxSessions: 1000,
    maxEnded: 10,
    timeouts: CONTRACT_TIMEOUTS,
    events: { warn: (m) => { warnings.push(m) }, error: (m) => { errorsLogged.push(m) } }
  })
  // limit 1: each login of mallory ends the one before.
  for (let i = 0; i < 9; i++) await store.admit({ user: 'mallory', id: `m${i}`, now: T0 + i, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.equal((await store.stats(T0 + 10)).ended, 8)
  t.same(warnings, [], 'no warning below 80%')
  await store.admit({ user: 'mallory', id: 'm9', now: T0 + 10, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.match(warnings, [/over 80% of store.maxEnded/], 'warned once at 80%')
  await store.admit({ user: 'mallory', id: 'm10', now: T0 + 11, limit: 1, policy: 'evict-oldest', replaces: [] })
  t.equal((await store.stats(T0 + 12)).ended, 10)
  await t.rejects(store.admit({ user: 'alice', id: 'a', now: T0 + 12, limit: 1, policy: 'evict-oldest', replaces: [] }), { code: 'SESSIONCAP_ERR_STORE_FULL', statusCode: 503 })
  t.same(await store.check('a', T0 + 13), { state: 'unknown' }, 'the refused sign-in left nothing behind')
  t.match(errorsLogged, [/holds store.maxEnded ended sessions: new sign-ins are refused/])
  for (let i = 0; i < 10; i++) t.equal((await store.check(`m${i}`, T0 + 13)).state, 'ended', `m${i} is still refused`)
  t.same(await store.end(['m10'], 'logged_out', T0 + 14), [{ id: 'm10', user: 'mallory', createdAt: T0 + 11, lastUsedAt: T0 + 11 }], 'a logout is still recorded past the bound')
  t.equal((await store.check('m10', T0 + 15)).state, 'ended')
  // Once the oldest endings are over, sign-ins work again.
  const later = T0 + CONTRACT_TIMEOUTS.maxAge * 2
  t.same(await store.admit({ user: 'alice', id: 'a2', now: later, limit: 1, policy: 'evict-oldest', replaces: [] }), { admitted: true, ended: [] })
})

t.test('memory: a version 1 snapshot (ended sessions by id) is read into fingerprints', async (t) => {
  const store = new MemoryStore({ maxSessions: 100, timeouts: CONTRACT_TIMEOUTS })
  store.restore(['e', 'old', (T0 - 60_000) * 8 + 1], T0)
  store.restore(['E', 'older', (T0 - 120_000) * 8 + 5, { at: T0 - 120_000, device: 'Firefox 133 on Linux' }], T0)
  store.restore(['e', 'expired', (T0 - CONTRACT_TIMEOUTS.maxAge - 1) * 8 + 1], T0)
  t.same(await store.check('old', T0), { state: 'ended', reason: 'logged_out', key: 'old' })
  t.same(await store.check('older', T0), { state: 'ended', reason: 'ended_by_user', key: 'older', by: { at: T0 - 120_000, device: 'Firefox 133 on Linux' } })
  t.same(await store.check('expired', T0), { state: 'unknown' })
})
