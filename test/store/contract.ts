import type { Test } from 'tap'
import type { SessionState, SessionStore } from '../../src/store/store.js'
import type { Timeouts } from '../../src/domain/session.js'
import { BUCKETS } from '../../src/store/ended-set.js'

export const CONTRACT_TIMEOUTS: Timeouts = { idleTimeout: 2 * 3_600_000, maxAge: 14 * 86_400_000 }

/** Makes a fresh, empty store with the contract's timeouts. */
export type StoreFactory = (t: Test, timeouts: Timeouts) => Promise<SessionStore>

const T0 = Date.UTC(2026, 0, 1)
const MIN = 60_000

/**
 * The behaviour every session store must have, whatever keeps its data.
 * Run by test/store/*.test.ts for each store. Time is passed in, never slept.
 */
export function storeContract (t: Test, name: string, makeStore: StoreFactory, opts: { fleet?: boolean } = {}): void {
  // Most tests judge what a store says of a session; who an ended one was and its key are a test of their own below.
  const make: StoreFactory = async (t, timeouts) => withoutNames(await makeStore(t, timeouts))
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

  t.test(`${name}: an ended session stays refused for maxAge, then is forgotten with its time bucket`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    // Ended sessions leave a whole time bucket at a time (ended-set.ts): at most maxAge / BUCKETS after their maxAge.
    const over = CONTRACT_TIMEOUTS.maxAge + Math.ceil(CONTRACT_TIMEOUTS.maxAge / BUCKETS) + MIN
    await admit(store, 'alice', 'a', T0)
    await admit(store, 'alice', 'b', T0 + 1)
    t.equal((await store.check('a', T0 + 1 + CONTRACT_TIMEOUTS.maxAge - MIN)).state, 'ended')
    t.equal((await store.check('a', T0 + 1 + CONTRACT_TIMEOUTS.maxAge - 1)).state, 'ended', 'refused for the whole of maxAge')
    t.same(await store.check('a', T0 + 1 + over), { state: 'unknown' })
    await store.rotate('b', 'b2', T0 + 2)
    t.same(await store.stats(T0 + 2 + over), { live: 0, ended: 0, aliases: 0 }, 'nothing outlives maxAge and its bucket')
    t.same(await store.check('b', T0 + 2 + over), { state: 'unknown' }, 'aliases expire too')
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

  const ask = async (store: SessionStore, user: string, id: string, now: number, limit = 1, meta?: { device?: string, ip?: string }) =>
    await store.admit({ user, id, now, limit, policy: 'ask', askTimeout: 5 * MIN, replaces: [], ...(meta === undefined ? {} : { meta }) })

  t.test(`${name}: a login keeps its device and address, shown in the user's list`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await store.admit({ user: 'alice', id: 's1', now: T0, limit: 2, policy: 'evict-idlest', replaces: [], meta: { device: 'Firefox 133 on Windows 10', ip: '203.0.113.x' } })
    await admit(store, 'alice', 's2', T0 + 1, 2)
    const list = await store.sessionsOf('alice', T0 + 2)
    t.same(list.map((r) => [r.id, r.device, r.ip]), [['s1', 'Firefox 133 on Windows 10', '203.0.113.x'], ['s2', undefined, undefined]])
  })

  t.test(`${name}: a device and address of any characters come back unchanged`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    const device = 'Odd, "quoted" \\ ,, device 🙂 \u0000 end'
    await store.admit({ user: 'alice', id: 's1', now: T0, limit: 1, policy: 'evict-idlest', replaces: [], meta: { device, ip: ',' } })
    t.same((await store.sessionsOf('alice', T0 + 1)).map((r) => [r.device, r.ip]), [[device, ',']])
    await store.admit({ user: 'alice', id: 's2', now: T0 + 2, limit: 1, policy: 'evict-idlest', replaces: [], meta: { device, ip: ',' } })
    const s1 = await store.check('s1', T0 + 3)
    t.same(s1, { state: 'ended', reason: 'concurrent_login_limit', by: { device, ip: ',', at: T0 + 2 } }, 'the ended session learns which device ended it')
  })

  t.test(`${name}: an idle session coming back keeps its device and address`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await store.admit({ user: 'alice', id: 's1', now: T0, limit: 2, policy: 'evict-idlest', replaces: [], meta: { device: 'Firefox 133 on Linux', ip: '192.0.2.x' } })
    const later = T0 + CONTRACT_TIMEOUTS.idleTimeout + MIN
    t.equal((await store.check('s1', later)).state, 'idle')
    await admit(store, 'alice', 's1', later, 2)
    t.same((await store.sessionsOf('alice', later)).map((r) => [r.id, r.device, r.ip, r.createdAt]), [['s1', 'Firefox 133 on Linux', '192.0.2.x', T0]])
  })

  t.test(`${name}: end() keeps who ended a session, for the signed-out device`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'a', T0, 2)
    await admit(store, 'alice', 'b', T0 + 1, 2)
    await store.end(['a'], 'ended_by_user', T0 + 2, { device: 'Safari 17 on iOS 17', ip: '198.51.100.x', at: T0 + 2 })
    t.same(await store.check('a', T0 + 3), { state: 'ended', reason: 'ended_by_user', by: { device: 'Safari 17 on iOS 17', ip: '198.51.100.x', at: T0 + 2 } })
    await store.end(['b'], 'ended_by_admin', T0 + 4)
    t.same(await store.check('b', T0 + 5), { state: 'ended', reason: 'ended_by_admin' }, 'no device: no by')
  })

  t.test(`${name}: ask admits a login over the limit as pending, ending nothing`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    t.same(await ask(store, 'alice', 'first', T0), { admitted: true, ended: [] }, 'under the limit: an ordinary login')
    t.same(await ask(store, 'alice', 'second', T0 + MIN, 1, { device: 'Chrome 131 on Android 14' }), { admitted: true, ended: [], pending: true })
    t.same(await store.check('second', T0 + 2 * MIN), { state: 'pending', user: 'alice', slot: 'second', until: T0 + 6 * MIN })
    t.equal((await store.check('first', T0 + 2 * MIN)).state, 'live', 'the others keep going meanwhile')
    const list = await store.sessionsOf('alice', T0 + 2 * MIN)
    t.same(list.map((r) => [r.id, r.pendingUntil]), [['first', undefined], ['second', T0 + 6 * MIN]])
    t.same(await ask(store, 'alice', 'third', T0 + 3 * MIN), { admitted: true, ended: [], pending: true }, 'a pending session does not count: the next one is asked too')
  })

  t.test(`${name}: a pending session becomes live once the user has made room`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'second', T0 + MIN)
    t.same(await store.settle('second', 'ask', 1, T0 + 2 * MIN), { state: 'pending' }, 'still over the limit')
    await store.end(['first'], 'ended_by_user', T0 + 2 * MIN, { at: T0 + 2 * MIN, device: 'Chrome' })
    t.same(await store.settle('second', 'ask', 1, T0 + 2 * MIN), { state: 'live', ended: [] })
    t.same(await store.check('second', T0 + 3 * MIN), { state: 'live', user: 'alice', slot: 'second' })
    t.same(await store.settle('second', 'ask', 1, T0 + 3 * MIN), { state: 'live', ended: [] }, 'settling a live session changes nothing')
    t.equal((await store.sessionsOf('alice', T0 + 3 * MIN))[0]?.pendingUntil, undefined)
  })

  t.test(`${name}: the fallback settles a pending session: evicting for it, with its device as the reason`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'busy', T0, 2)
    await ask(store, 'alice', 'idle', T0 + MIN, 2)
    await store.check('busy', T0 + 2 * MIN)
    await ask(store, 'alice', 'new', T0 + 3 * MIN, 2, { device: 'Firefox 133 on Linux', ip: '192.0.2.x' })
    const r = await store.settle('new', 'evict-idlest', 2, T0 + 8 * MIN)
    t.same(r.state === 'live' && r.ended.map((e) => e.id), ['idle'])
    t.same(await store.check('idle', T0 + 9 * MIN), { state: 'ended', reason: 'concurrent_login_limit', by: { device: 'Firefox 133 on Linux', ip: '192.0.2.x', at: T0 + 8 * MIN } })
    t.equal((await store.check('new', T0 + 9 * MIN)).state, 'live')
    t.equal((await store.check('busy', T0 + 9 * MIN)).state, 'live')
  })

  t.test(`${name}: a reject-new fallback ends the pending session itself`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'second', T0 + MIN, 1, { device: 'Chrome 131 on Android 14', ip: '192.0.2.x' })
    t.same(await store.settle('second', 'reject-new', 1, T0 + 7 * MIN), { state: 'ended' })
    t.same(await store.check('second', T0 + 8 * MIN), { state: 'ended', reason: 'concurrent_login_limit' }, 'refused, not ended by a device: no by')
    t.equal((await store.check('first', T0 + 8 * MIN)).state, 'live')
    t.same(await store.settle('second', 'evict-idlest', 1, T0 + 9 * MIN), { state: 'ended' }, 'an ended session is never settled back in')
  })

  t.test(`${name}: settling what is not pending`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    t.same(await store.settle('nope', 'evict-idlest', 1, T0), { state: 'unknown' })
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'second', T0 + MIN)
    await store.end(['second'], 'login_cancelled', T0 + 2 * MIN)
    t.same(await store.settle('second', 'evict-idlest', 1, T0 + 3 * MIN), { state: 'ended' })
    t.same(await store.check('second', T0 + 3 * MIN), { state: 'ended', reason: 'login_cancelled' })
    t.equal((await store.check('first', T0 + 3 * MIN)).state, 'live', 'cancelling ends only the pending session')
  })

  t.test(`${name}: signing in again on a waiting device replaces its pending session, and is asked again`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'second', T0 + MIN)
    const again = await store.admit({ user: 'alice', id: 'third', now: T0 + 2 * MIN, limit: 1, policy: 'ask', askTimeout: 5 * MIN, replaces: ['second'] })
    t.same(again.admitted && again.pending, true, 'a pending session holds no slot to hand over')
    t.same(await store.check('second', T0 + 3 * MIN), { state: 'ended', reason: 'replaced' })
    t.equal((await store.check('third', T0 + 3 * MIN)).state, 'pending')
    t.equal((await store.check('first', T0 + 3 * MIN)).state, 'live')
  })

  t.test(`${name}: a pending session's rotated cookie is the same pending session`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'second', T0 + MIN)
    t.same(await store.rotate('second', 'second-b', T0 + 2 * MIN), { rotated: true, user: 'alice' })
    t.same(await store.check('second-b', T0 + 2 * MIN), { state: 'pending', user: 'alice', slot: 'second', until: T0 + 6 * MIN })
  })

  t.test(`${name}: concurrent settlements of two pending sessions leave exactly the limit`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await ask(store, 'alice', 'first', T0)
    await ask(store, 'alice', 'p1', T0 + 1)
    await ask(store, 'alice', 'p2', T0 + 2)
    await store.end(['first'], 'ended_by_user', T0 + 3)
    const [a, b] = await Promise.all([store.settle('p1', 'ask', 1, T0 + 4), store.settle('p2', 'ask', 1, T0 + 4)])
    t.same([a, b].map((r) => r.state).sort(), ['live', 'pending'], 'the first to settle takes the free slot; the other still waits')
  })

  t.test(`${name}: users lists each user with a tracked session once, and none whose sessions all ended`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await store.ping()
    for (const [user, id] of [['alice', 'a1'], ['alice', 'a2'], ['bob{x}', 'b1'], ['web:carol', 'c1'], ['dave', 'd1']] as const) {
      await store.admit({ user, id, now: T0, limit: 0, policy: 'evict-idlest', replaces: [] })
    }
    await store.end(['d1'], 'ended_by_admin', T0 + 1)
    const users: string[] = []
    for await (const u of store.users(T0 + 2)) users.push(u)
    t.same(users.sort(), ['alice', 'bob{x}', 'web:carol'])
    const later: string[] = []
    for await (const u of store.users(T0 + CONTRACT_TIMEOUTS.maxAge + 1)) later.push(u)
    t.same(later, [], 'none once every session is older than maxAge')
  })

  t.test(`${name}: checkCached, when it answers, answers as check does`, async (t) => {
    const store = await make(t, CONTRACT_TIMEOUTS)
    await store.admit({ user: 'alice', id: 'a1', now: T0, limit: 1, policy: 'evict-idlest', replaces: [] })
    await store.admit({ user: 'alice', id: 'a2', now: T0 + 1, limit: 1, policy: 'evict-idlest', replaces: [] })
    for (const id of ['a1', 'a2', 'nobody']) {
      const checked = await store.check(id, T0 + 2)
      const cached = store.checkCached?.(id, T0 + 3)
      if (cached !== undefined) t.same(cached, checked, `${id}: the same answer`)
    }
    t.equal((await store.check('a1', T0 + 4)).state, 'ended')
  })

  t.test(`${name}: an ended session names its key and its user, for any of its cookies`, async (t) => {
    const store = await makeStore(t, CONTRACT_TIMEOUTS)
    await admit(store, 'alice', 'first', T0)
    t.match(await store.rotate('first', 'first-2', T0 + 1), { rotated: true })
    await admit(store, 'alice', 'second', T0 + 2)
    for (const id of ['first', 'first-2']) {
      const state = await store.check(id, T0 + 3)
      if (opts.fleet === true && state.state === 'ended' && state.user === undefined) {
        // A gateway that only heard of the ending from another, and never saw the cookie, knows the key alone.
        t.same(state, { state: 'ended', reason: 'concurrent_login_limit', key: 'first' }, `${id}: the session's first cookie id`)
      } else {
        t.same(state, { state: 'ended', reason: 'concurrent_login_limit', key: 'first', user: 'alice' }, `${id}: the session's first cookie id, and alice`)
      }
    }
    await store.end(['second'], 'logged_out', T0 + 4)
    t.same(await store.check('second', T0 + 5), { state: 'ended', reason: 'logged_out', key: 'second', user: 'alice' }, 'a logout too')
    await admit(store, 'bob', 'bob-1', T0 + 4)
    t.same(await admit(store, 'bob', 'bob-2', T0 + 5, 1, 'reject-new'), { admitted: false, reason: 'limit' })
    t.match(await store.check('bob-2', T0 + 5), { state: 'ended', key: 'bob-2' }, 'a newcomer refused by reject-new')
    await store.end(['stranger'], 'logged_out', T0 + 6)
    t.same(await store.check('stranger', T0 + 7), { state: 'ended', reason: 'logged_out', key: 'stranger' }, 'an id of no known user: no user')
  })
}

/** The store, with `key` and `user` taken off what it says of ended sessions. */
function withoutNames (store: SessionStore): SessionStore {
  const strip = (s: SessionState): SessionState => {
    if (s.state !== 'ended') return s
    const rest = { ...s }
    delete rest.key
    delete rest.user
    return rest
  }
  return new Proxy(store, {
    get (target, prop, receiver) {
      if (prop === 'check') return async (id: string, now: number) => strip(await target.check(id, now))
      if (prop === 'checkCached' && target.checkCached !== undefined) {
        return (id: string, now: number) => {
          const s = target.checkCached?.(id, now)
          return s === undefined ? undefined : strip(s)
        }
      }
      const v: unknown = Reflect.get(target, prop, receiver)
      // Methods of a class with private fields must run on the store itself.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    }
  })
}
