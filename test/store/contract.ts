import type { Test } from 'tap'
import type { SessionStore } from '../../src/store/store.js'
import type { Timeouts } from '../../src/domain/session.js'

export const CONTRACT_TIMEOUTS: Timeouts = { idleTimeout: 2 * 3_600_000, maxAge: 14 * 86_400_000 }

/** Makes a fresh, empty store with the contract's timeouts. */
export type StoreFactory = (t: Test, timeouts: Timeouts) => Promise<SessionStore>

const T0 = Date.UTC(2026, 0, 1)
const MIN = 60_000

/**
 * The behaviour every session store must have, whatever keeps its data.
 * Run by test/store/*.test.ts for each store. Time is passed in, never slept.
 */
export function storeContract (t: Test, name: string, make: StoreFactory): void {
  const admit = async (store: SessionStore, user: string, id: string, now: number, limit = 1, policy: 'evict-idlest' | 'evict-oldest' | 'reject-new' = 'evict-idlest', replaces: string[] = []) =>
    await store.admit({ user, id, now, limit, policy, replaces })

  t.test(`${name}: unknown sessions are unknown`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    t.same(await store.check('nope', T0), { state: 'unknown' })
  })

  t.test(`${name}: a login under the limit is admitted and live`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    t.same(await admit(store, 'alice', 's1', T0, 2), { admitted: true, ended: [] })
    t.same(await store.check('s1', T0 + MIN), { state: 'live', user: 'alice', slot: 's1' })
    const list = await store.sessionsOf('alice', T0 + MIN)
    t.same(list.map((r) => [r.id, r.createdAt, r.lastUsedAt]), [['s1', T0, T0 + MIN]], 'check records the use')
  })

  t.test(`${name}: evict-idlest ends the least recently used session`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'old-but-busy', T0, 2)
    await admit(store, 'alice', 'new-but-idle', T0 + MIN, 2)
    await store.check('old-but-busy', T0 + 5 * MIN)
    const r = await admit(store, 'alice', 'third', T0 + 6 * MIN, 2)
    t.same(r.admitted && r.ended.map((e) => e.id), ['new-but-idle'])
    t.same(await store.check('new-but-idle', T0 + 7 * MIN), { state: 'ended', reason: 'concurrent_login_limit' })
    t.equal((await store.check('old-but-busy', T0 + 7 * MIN)).state, 'live')
    t.equal((await store.check('third', T0 + 7 * MIN)).state, 'live')
  })

  t.test(`${name}: evict-oldest ends the session that logged in first`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'first', T0, 2, 'evict-oldest')
    await admit(store, 'alice', 'second', T0 + MIN, 2, 'evict-oldest')
    await store.check('first', T0 + 5 * MIN)
    const r = await admit(store, 'alice', 'third', T0 + 6 * MIN, 2, 'evict-oldest')
    t.same(r.admitted && r.ended.map((e) => e.id), ['first'])
    t.equal((await store.check('first', T0 + 7 * MIN)).state, 'ended')
    t.equal((await store.check('second', T0 + 7 * MIN)).state, 'live')
  })

  t.test(`${name}: reject-new refuses the newcomer, ends it, and touches nothing else`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0, 1, 'reject-new')
    t.same(await admit(store, 'alice', 'b', T0 + MIN, 1, 'reject-new'), { admitted: false, reason: 'limit' })
    t.equal((await store.check('a', T0 + 2 * MIN)).state, 'live')
    t.same(await store.check('b', T0 + 2 * MIN), { state: 'ended', reason: 'concurrent_login_limit' }, 'the refused session cannot be used')
  })

  t.test(`${name}: a surplus of several is ended at once when the limit is lower than the count`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    for (let i = 0; i < 4; i++) await admit(store, 'bob', `s${i}`, T0 + i * MIN, 0)
    const r = await admit(store, 'bob', 'new', T0 + 10 * MIN, 2)
    t.same(r.admitted && r.ended.map((e) => e.id).sort(), ['s0', 's1', 's2'])
    t.equal((await store.sessionsOf('bob', T0 + 11 * MIN)).length, 2)
  })

  t.test(`${name}: limit 0 is unlimited`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    for (let i = 0; i < 20; i++) t.same(await admit(store, 'bot', `s${i}`, T0 + i, 0), { admitted: true, ended: [] })
    t.equal((await store.sessionsOf('bot', T0 + 100)).length, 20)
  })

  t.test(`${name}: users are counted apart`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    t.same(await admit(store, 'bob', 'b', T0 + 1), { admitted: true, ended: [] })
    t.equal((await store.check('a', T0 + 2)).state, 'live')
    t.equal((await store.check('b', T0 + 2)).state, 'live')
  })

  t.test(`${name}: admitting the same session twice is idempotent`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0, 2)
    await admit(store, 'alice', 'b', T0 + 1, 2)
    t.same(await admit(store, 'alice', 'b', T0 + 2, 2), { admitted: true, ended: [] }, 'no extra session ended')
    t.equal((await store.check('a', T0 + 3)).state, 'live')
    t.equal((await store.sessionsOf('alice', T0 + 3)).length, 2)
  })

  t.test(`${name}: a login that replaces the device's own session takes its slot, and ends the old one`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'phone', T0)
    const r = await admit(store, 'alice', 'phone-again', T0 + MIN, 1, 'reject-new', ['phone'])
    t.same(r.admitted && r.ended.map((e) => e.id), ['phone'], 'not refused even under reject-new; the old session is reported ended')
    t.same((await store.sessionsOf('alice', T0 + 2 * MIN)).map((s) => s.id), ['phone-again'], 'one slot')
    t.same(await store.check('phone', T0 + 2 * MIN), { state: 'ended', reason: 'replaced' }, 'the old cookie is over: an app may still honour it')
  })

  t.test(`${name}: a device that signs in as another user ends the first user's session there`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'shared', T0)
    const r = await admit(store, 'bob', 'shared-bob', T0 + 1, 1, 'evict-idlest', ['shared'])
    t.same(r.admitted && r.ended.map((e) => [e.id, e.user]), [['shared', 'alice']], 'reported as ended by this login')
    t.same(await store.check('shared', T0 + 2), { state: 'ended', reason: 'replaced' })
    t.same(await store.sessionsOf('alice', T0 + 2), [])
  })

  t.test(`${name}: replacing an idle session of the same user is a new login: the limit applies`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'laptop', T0)
    const later = T0 + CONTRACT_TIMEOUTS.idleTimeout + MIN
    await admit(store, 'alice', 'phone', later)
    const r = await admit(store, 'alice', 'laptop-again', later + MIN, 1, 'reject-new', ['laptop'])
    t.same(r, { admitted: false, reason: 'limit' })
    t.equal((await store.check('phone', later + 2 * MIN)).state, 'live')
  })

  t.test(`${name}: an ended session is never admitted again`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    await admit(store, 'alice', 'b', T0 + 1)
    t.same(await admit(store, 'alice', 'a', T0 + 2), { admitted: false, reason: 'ended' })
  })

  t.test(`${name}: rotation keeps the session: new and old cookie are both that session`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'old', T0)
    t.same(await store.rotate('old', 'new', T0 + MIN), { rotated: true, user: 'alice' })
    t.same(await store.check('new', T0 + 2 * MIN), { state: 'live', user: 'alice', slot: 'old' }, 'known by its first id')
    t.same(await store.check('old', T0 + 2 * MIN), { state: 'live', user: 'alice', slot: 'old' }, 'not unknown: some apps still accept it')
    const list = await store.sessionsOf('alice', T0 + 2 * MIN)
    t.same(list.map((s) => [s.id, s.createdAt]), [['old', T0]], 'one session, with its login time')
    t.same(await store.rotate('untracked', 'x', T0), { rotated: false, ended: false })
  })

  t.test(`${name}: a long run of rotations stays one session, one hop from any cookie`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'v0', T0)
    for (let i = 1; i <= 300; i++) await store.rotate(`v${i - 1}`, `v${i}`, T0 + i)
    t.same(await store.check('v300', T0 + 400), { state: 'live', user: 'alice', slot: 'v0' }, 'the current cookie')
    t.same(await store.check('v100', T0 + 400), { state: 'live', user: 'alice', slot: 'v0' }, 'a cookie 200 rotations old')
    t.equal((await store.stats(T0 + 400)).aliases, 256, 'old cookies remembered per session are bounded')
    await admit(store, 'alice', 'elsewhere', T0 + 500)
    for (const i of [0, 50, 100, 299, 300]) {
      const state = (await store.check(`v${i}`, T0 + 600)).state
      t.ok(i < 300 - 256 + 1 ? state !== 'live' : state === 'ended', `v${i}: ${state}`)
    }
  })

  t.test(`${name}: rotating an ended session ends the new id too`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    await admit(store, 'alice', 'b', T0 + 1)
    t.same(await store.rotate('a', 'a2', T0 + 2), { rotated: false, ended: true })
    t.equal((await store.check('a2', T0 + 3)).state, 'ended')
  })

  t.test(`${name}: end() ends sessions for good, frees their slots, and never changes an earlier reason`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    await admit(store, 'alice', 'b', T0 + 1)
    const ended = await store.end(['b', 'a', 'never-seen'], 'logged_out', T0 + 2)
    t.same(ended.map((r) => [r.id, r.user]), [['b', 'alice']], 'only the live one is reported')
    t.same(await store.check('b', T0 + 3), { state: 'ended', reason: 'logged_out' }, 'a logged-out id cannot come back')
    t.same(await store.check('a', T0 + 3), { state: 'ended', reason: 'concurrent_login_limit' }, 'first reason kept')
    t.same(await store.check('never-seen', T0 + 3), { state: 'ended', reason: 'logged_out' }, 'unknown ids are recorded as ended too')
    t.same(await admit(store, 'alice', 'c', T0 + 4), { admitted: true, ended: [] }, 'the slot is free')
  })

  t.test(`${name}: an idle session stops counting, and is reported idle when it comes back`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'laptop', T0)
    const later = T0 + CONTRACT_TIMEOUTS.idleTimeout + MIN
    t.same(await admit(store, 'alice', 'phone', later), { admitted: true, ended: [] }, 'the idle laptop does not count')
    t.same(await store.check('laptop', later + 1), { state: 'idle', user: 'alice', slot: 'laptop' })
    const back = await admit(store, 'alice', 'laptop', later + 2)
    t.same(back.admitted && back.ended.map((e) => e.id), ['phone'], 'coming back is a login again: the limit holds')
    const [s] = await store.sessionsOf('alice', later + 3)
    t.equal(s?.createdAt, T0, 'a revived session keeps its login time')
  })

  t.test(`${name}: idleTimeout 0 means sessions never go idle`, async (t) => {
    const store = await make(t, { idleTimeout: 0, maxAge: CONTRACT_TIMEOUTS.maxAge })
    await admit(store, 'alice', 'a', T0)
    t.same(await store.check('a', T0 + 10 * 86_400_000), { state: 'live', user: 'alice', slot: 'a' })
  })

  t.test(`${name}: a session older than maxAge is forgotten and stops counting`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    let now = T0
    // Used every hour, so never idle, until it is too old.
    while (now < T0 + CONTRACT_TIMEOUTS.maxAge - 3_600_000) { now += 3_600_000; await store.check('a', now) }
    const after = T0 + CONTRACT_TIMEOUTS.maxAge + 1
    t.same(await admit(store, 'alice', 'b', after), { admitted: true, ended: [] })
    t.same(await store.check('a', after + 1), { state: 'unknown' })
    t.same((await store.sessionsOf('alice', after + 1)).map((s) => s.id), ['b'], 'the user index is pruned')
  })

  t.test(`${name}: an ended session stays refused for maxAge, then is forgotten`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0)
    await admit(store, 'alice', 'b', T0 + 1)
    t.equal((await store.check('a', T0 + CONTRACT_TIMEOUTS.maxAge - MIN)).state, 'ended')
    t.same(await store.check('a', T0 + 1 + CONTRACT_TIMEOUTS.maxAge + MIN), { state: 'unknown' })
    await store.rotate('b', 'b2', T0 + 2)
    t.same(await store.stats(T0 + 2 + CONTRACT_TIMEOUTS.maxAge + MIN), { live: 0, ended: 0, aliases: 0 }, 'nothing outlives maxAge')
    t.same(await store.check('b', T0 + 2 + CONTRACT_TIMEOUTS.maxAge + MIN), { state: 'unknown' }, 'aliases expire too')
  })

  t.test(`${name}: a cookie id the app hands to another user becomes that user's session`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'x', T0)
    t.same(await admit(store, 'bob', 'x', T0 + 1), { admitted: true, ended: [] })
    t.same(await store.check('x', T0 + 2), { state: 'live', user: 'bob', slot: 'x' })
    t.same(await store.sessionsOf('alice', T0 + 2), [], 'no longer alice\'s')
  })

  t.test(`${name}: an id ended for no known user stays ended (no admission, no rotation into it)`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await store.end(['y'], 'login_not_identified', T0)
    t.same(await admit(store, 'carol', 'y', T0 + 1), { admitted: false, reason: 'ended' })
    await admit(store, 'dave', 'd1', T0 + 2)
    t.same(await store.rotate('d1', 'y', T0 + 3), { rotated: false, ended: true })
    t.equal((await store.check('y', T0 + 4)).state, 'ended')
    t.equal((await store.check('d1', T0 + 4)).state, 'live')
  })

  t.test(`${name}: an unlimited user's expired sessions are pruned too`, async (t) => {
    const store = await make(t, { idleTimeout: 0, maxAge: 3_600_000 })
    for (let i = 0; i < 5; i++) await admit(store, 'bot', `b${i}`, T0 + i, 0)
    await admit(store, 'bot', 'late', T0 + 3_600_000 + 10, 0)
    t.same((await store.sessionsOf('bot', T0 + 3_600_000 + 11)).map((s) => s.id), ['late'])
    t.equal((await store.stats(T0 + 3_600_000 + 11)).live, 1)
  })

  t.test(`${name}: one login can end thousands of sessions at once`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    for (let i = 0; i < 2_100; i++) await admit(store, 'many', `m${i}`, T0 + i, 0)
    const r = await admit(store, 'many', 'one', T0 + 5_000, 1)
    t.equal(r.admitted && r.ended.length, 2_100)
    t.same((await store.sessionsOf('many', T0 + 5_001)).map((s) => s.id), ['one'])
  })

  t.test(`${name}: many concurrent admissions of one user leave exactly the limit`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => await admit(store, 'storm', `s${i}`, T0 + i, 2)))
    t.ok(results.every((r) => r.admitted))
    const live = await store.sessionsOf('storm', T0 + 100)
    t.equal(live.length, 2)
    const states = await Promise.all(Array.from({ length: 50 }, async (_, i) => (await store.check(`s${i}`, T0 + 100)).state))
    t.equal(states.filter((s) => s === 'live').length, 2)
    t.equal(states.filter((s) => s === 'ended').length, 48)
  })
}
