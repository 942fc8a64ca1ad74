import t from 'tap'
import { MemoryGuardStore } from '../../src/guard/memory-guard.js'
import { guardRules } from '../../src/guard/rules.js'
import { guardContract, guardConfig, T0 } from './contract.js'

guardContract(t, 'memory', async () => new MemoryGuardStore({ maxKeys: 100_000 }))

const rules = guardRules(guardConfig())
const charge = (store: MemoryGuardStore, id: string, user: string, network: string, now: number) =>
  store.chargeNow({ id, user, network, device: false, now, rules })

t.test('memory: at guard.maxKeys the least recently used counters are dropped, blocks are kept apart, and the log says so once', async (t) => {
  const warnings: Array<{ message: string, details?: Record<string, unknown> }> = []
  const store = new MemoryGuardStore({ maxKeys: 20, events: { warn: (message, details) => { warnings.push({ message, details }) } } })
  // Mallory blocks herself from one network.
  for (let i = 0; i < 5; i++) {
    const r = charge(store, `m${i}`, 'mallory', 'net-m', T0 + i)
    if (r.allowed) store.settleNow(r.ticket, 'failure', T0 + i, rules)
  }
  t.match(charge(store, 'm5', 'mallory', 'net-m', T0 + 10), { allowed: false, blocked: true })
  // Then a flood of new users and networks: 4 counter keys each.
  for (let i = 0; i < 500; i++) {
    const r = charge(store, `f${i}`, `flood${i}`, `net${i}`, T0 + 100 + i)
    if (r.allowed) store.settleNow(r.ticket, 'failure', T0 + 100 + i, rules)
  }
  const size = store.size()
  t.ok(size.counters <= 20, `counters bounded: ${size.counters}`)
  t.equal(size.inFlight, 0)
  t.match(charge(store, 'm6', 'mallory', 'net-m', T0 + 1_000), { allowed: false, blocked: true }, 'the flood did not push her block out')
  t.equal(warnings.length, 1, 'warned once (then at most once a minute)')
  t.match(warnings[0], { message: /guard.maxKeys reached/, details: { maxKeys: 20 } })
  t.equal((await store.blocks(T0 + 1_000, 10)).total, 1)
})

t.test('memory: a flood of counters past guard.maxKeys does not push out the charges of attempts in flight', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 20, events: { warn: () => {} } })
  // Five guesses at alice in flight at once: the userNetwork threshold.
  for (let i = 0; i < 5; i++) t.match(charge(store, `a${i}`, 'alice', 'net-x', T0), { allowed: true })
  t.match(charge(store, 'a5', 'alice', 'net-x', T0), { allowed: false, refusedBy: ['userNetwork'] }, 'a sixth waits for them')
  // Then logins of new users from other networks fill the counters' table
  // (each leaves its logins count), pushing out every older entry.
  for (let i = 0; i < 100; i++) {
    const r = charge(store, `f${i}`, `flood${i}`, `net${i}`, T0 + 1 + i)
    if (r.allowed) store.settleNow(r.ticket, 'success', T0 + 1 + i, rules)
  }
  t.ok(store.size().counters <= 20, 'the table was filled and emptied many times over')
  t.match(charge(store, 'a6', 'alice', 'net-x', T0 + 200), { allowed: false, refusedBy: ['userNetwork'] }, 'the five in flight still count: no sixth guess reaches the app')
})

t.test('memory: at the bound of keys with charges in flight, the least recently charged key\'s charges go first, with a warning of their own', async (t) => {
  const warnings: string[] = []
  const store = new MemoryGuardStore({ maxKeys: 4, events: { warn: (message) => { warnings.push(message) } } })
  const attempt = (id: string, user: string, network: string, opts: { device?: boolean, unnamed?: boolean } = {}) =>
    store.chargeNow({ id, user, network, device: false, now: T0, rules, ...opts })
  t.match(attempt('p1', 'alice', 'n1', { device: true }), { allowed: true }, 'alice from her device: her userNetwork and logins keys')
  t.match(attempt('p2', '', 'n2', { unnamed: true }), { allowed: true }, 'nobody named, from n2: two more keys, four in all')
  t.match(attempt('p3', 'alice', 'n1'), { allowed: true }, 'alice without her device: two new keys must make room')
  t.equal(warnings.filter((w) => /charges in flight/.test(w)).length, 1, 'the forgotten charges are warned of')
  // Alice's userNetwork key, charged by p3 just now, is not what was forgotten: 2 in flight, 3 more allowed.
  const allowed = [0, 1, 2, 3, 4].map((i) => attempt(`q${i}`, 'alice', 'n1', { device: true }).allowed)
  t.same(allowed, [true, true, true, false, false])
})

t.test('memory: blocked keys have their own bound; the one dropped first is the one nobody tried for longest', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 3, events: { warn: () => {} } })
  const block = (user: string, now: number): void => {
    for (let i = 0; i < 5; i++) {
      const r = store.chargeNow({ id: `${user}${i}`, user, network: 'n', device: false, now, rules: { ...rules, network: undefined, user: undefined, logins: undefined } })
      if (r.allowed) store.settleNow(r.ticket, 'failure', now, rules)
    }
  }
  block('a', T0)
  block('b', T0 + 1)
  block('c', T0 + 2)
  // a keeps trying: its block stays the most recently used.
  t.match(store.chargeNow({ id: 'a-again', user: 'a', network: 'n', device: false, now: T0 + 3, rules }), { allowed: false })
  block('d', T0 + 4)
  const users = (await store.blocks(T0 + 5, 10)).blocks.map((b) => b.user)
  t.same(users.sort(), ['a', 'c', 'd'], 'b, untried since it was blocked, was dropped')
})

t.test('memory: one attempt in flight is one record, dropped at its settle or at inFlightTimeout', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 1000 })
  for (let i = 0; i < 100; i++) charge(store, `x${i}`, `u${i}`, `n${i}`, T0)
  t.equal(store.size().inFlight, 100)
  charge(store, 'late', 'v', 'n2', T0 + rules.inFlightTimeout)
  t.equal(store.size().inFlight, 1, 'the 100 forgotten attempts gave their charges back')
  await store.close()
  t.same(store.size(), { counters: 0, blocked: 0, inFlight: 0, charged: 0 })
})

t.test('memory: a counter left holding nothing is dropped, so successful logins keep only their logins count', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 100_000 })
  for (let i = 0; i < 100; i++) {
    const r = charge(store, `s${i}`, `user${i}`, 'office', T0 + i)
    if (r.allowed) store.settleNow(r.ticket, 'success', T0 + i, rules)
  }
  t.same(store.size(), { counters: 100, blocked: 0, inFlight: 0, charged: 0 }, 'one key per user (its logins this hour); no userNetwork, no network key')
  const noLogins = guardRules(guardConfig('{ maxLoginsPerHour: 0 }'))
  const bare = new MemoryGuardStore({ maxKeys: 100_000 })
  for (let i = 0; i < 100; i++) {
    const r = bare.chargeNow({ id: `b${i}`, user: `user${i}`, network: 'office', device: false, now: T0 + i, rules: noLogins })
    if (r.allowed) bare.settleNow(r.ticket, 'success', T0 + i, noLogins)
  }
  t.equal(bare.size().counters, 0, 'without maxLoginsPerHour nothing at all')
  const f = charge(store, 'f', 'user1', 'office', T0 + 200)
  if (f.allowed) store.settleNow(f.ticket, 'failure', T0 + 200, rules)
  t.equal(store.size().counters, 102, 'a failure is kept (userNetwork and network keys)')
})

t.test('memory: a login in flight when its user is lifted is not kept (the lift resets the logins count), though its charge counts until it settles', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 1000 })
  const oneLogin = guardRules(guardConfig('{ maxLoginsPerHour: 1 }'))
  const attempt = (id: string, now: number) => store.chargeNow({ id, user: 'alice', network: 'home', device: false, now, rules: oneLogin })
  const first = attempt('a1', T0)
  t.match(first, { allowed: true })
  t.match(attempt('a2', T0 + 1), { allowed: false, refusedBy: ['logins'] }, 'the one login allowed is in flight')
  t.same(await store.liftUser('alice', T0 + 2), [], 'nothing was blocked')
  if (first.allowed) t.match(store.settleNow(first.ticket, 'success', T0 + 3, oneLogin), { settled: true })
  t.match(attempt('a3', T0 + 4), { allowed: true }, 'the login charged before the lift was not kept after it')
})

t.test('memory: charges in flight leave nothing behind once settled or dropped', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 1000 })
  const tickets = []
  for (let i = 0; i < 50; i++) {
    const r = charge(store, `c${i}`, `user${i % 5}`, `net${i % 3}`, T0)
    if (r.allowed) tickets.push(r.ticket)
  }
  t.ok(store.size().charged > 0, 'charged keys while in flight')
  for (const [i, ticket] of tickets.entries()) if (i % 2 === 0) store.settleNow(ticket, i % 4 === 0 ? 'neutral' : 'success', T0 + 1, rules)
  charge(store, 'late', 'other', 'elsewhere', T0 + rules.inFlightTimeout)
  t.equal(store.size().inFlight, 1, 'the unsettled ones were dropped at inFlightTimeout')
  t.equal(store.size().charged, 4, 'only the last attempt\'s keys are charged: its userNetwork, network, user and logins keys')
  await store.close()
  t.same(store.size(), { counters: 0, blocked: 0, inFlight: 0, charged: 0 })
})

t.test('memory: a ticket is settled only by the store that made it, once, and writes out as a ticket', async (t) => {
  const store = new MemoryGuardStore({ maxKeys: 100 })
  const other = new MemoryGuardStore({ maxKeys: 100 })
  const r = charge(store, 'a1', 'alice', 'net-a', T0)
  if (!r.allowed) throw new Error('the first attempt is allowed')
  t.same(JSON.parse(JSON.stringify(r.ticket)), { id: 'a1', user: 'alice', network: 'net-a', counters: ['userNetwork', 'network', 'user', 'logins'] }, 'neither its store nor the other attempts in flight')
  t.same(other.settleNow(r.ticket, 'failure', T0 + 1, rules), { settled: false, blocks: [] }, 'another store has nothing to settle')
  t.same(other.settleNow({ ...r.ticket }, 'failure', T0 + 1, rules), { settled: false, blocks: [] })
  t.same(store.settleNow({ ...r.ticket }, 'failure', T0 + 1, rules), { settled: false, blocks: [] }, 'a copy of a ticket is no ticket')
  t.equal(store.size().inFlight, 1)
  // Three in flight, the middle one settled first: the others stay in flight, in order, and expire in order.
  const b = charge(store, 'b1', 'bob', 'net-b', T0 + 2)
  const c = charge(store, 'c1', 'carol', 'net-c', T0 + 3)
  if (!b.allowed || !c.allowed) throw new Error('allowed')
  t.equal(store.settleNow(b.ticket, 'failure', T0 + 4, rules).settled, true)
  t.equal(store.size().inFlight, 2)
  t.equal(store.settleNow(r.ticket, 'failure', T0 + rules.inFlightTimeout + 1, rules).settled, false, 'the first was dropped at its deadline')
  t.equal(store.size().inFlight, 1, 'the last one, due later, is still in flight')
  t.equal(store.settleNow(c.ticket, 'failure', T0 + rules.inFlightTimeout + 2, rules).settled, true)
  t.equal(store.size().inFlight, 0)
  const d = charge(store, 'd1', 'dave', 'net-d', T0 + 10)
  if (!d.allowed) throw new Error('allowed')
  await store.close()
  t.equal(store.settleNow(d.ticket, 'failure', T0 + 11, rules).settled, false, 'closing drops what is in flight')
  t.equal(store.size().inFlight, 0)
})
