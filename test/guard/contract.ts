import type { Test } from 'tap'
import { loadConfigText } from '../../src/config/load.js'
import type { GuardConfig } from '../../src/config/schema.js'
import type { GuardRules, GuardStore } from '../../src/guard/guard.js'
import { LoginGuard, type AttemptDecision, type LoginTicket } from '../../src/guard/login-guard.js'
import { guardRules } from '../../src/guard/rules.js'

export const TEST_SECRET = 'a-test-secret-that-is-long-enough-0123456789'

/** Makes a fresh, empty guard store. */
export type GuardStoreFactory = (t: Test) => Promise<GuardStore>

/** The `guard:` section as the loader makes it (the schema's defaults), with `yaml` written under it. */
export function guardConfig (yaml = '{}'): GuardConfig {
  const { config } = loadConfigText(`upstream: http://127.0.0.1:1
session: { cookie: sessionid }
login: [{ path: /login, user: { form: u } }]
guard: ${yaml}
`, 'test.yaml', {})
  if (config.guard === false) throw new Error('guard is off')
  return config.guard
}

/** Far in the past: every expiry inside Redis is relative, so a fake clock anywhere works. */
export const T0 = Date.UTC(2001, 8, 1)
const S = 1_000
const MIN = 60_000
const HOUR = 3_600_000

/**
 * The behaviour every guard store must have, whatever keeps its counters,
 * exercised through the LoginGuard the proxy calls (names and addresses in).
 * Run by test/guard/*.test.ts for each store. Time is passed in, never slept.
 */
export function guardContract (t: Test, name: string, make: GuardStoreFactory): void {
  const open = async (t: Test, yaml = '{}', rules?: (r: GuardRules) => GuardRules): Promise<LoginGuard> => {
    const config = guardConfig(yaml)
    const base = guardRules(config)
    return new LoginGuard({
      store: await make(t),
      secrets: [TEST_SECRET],
      rules: rules === undefined ? base : rules(base),
      ipv6Prefix: config.ipv6Prefix,
      deviceMaxAge: config.device === false ? undefined : config.device.maxAge
    })
  }
  const attempt = async (g: LoginGuard, user: string, address: string, now: number, deviceToken?: string): Promise<AttemptDecision> =>
    await g.attempt({ user, caseInsensitive: true, address, now, ...(deviceToken === undefined ? {} : { deviceToken }) })
  const ticketOf = (d: AttemptDecision): LoginTicket => {
    if (!d.allowed) throw new Error(`refused: ${JSON.stringify(d)}`)
    return d.ticket
  }
  /** One attempt answered at once with `outcome`; returns the decision. */
  const tryLogin = async (g: LoginGuard, user: string, address: string, now: number, outcome: 'success' | 'failure' | 'neutral', deviceToken?: string) => {
    const d = await attempt(g, user, address, now, deviceToken)
    const report = d.allowed ? await g.settle(d.ticket, outcome, now) : undefined
    // What the proxy would set in the device cookie.
    const token = d.allowed && report?.issueDevice === true ? g.deviceToken(d.ticket, now) : undefined
    return { d, report, token }
  }
  const fail = async (g: LoginGuard, user: string, address: string, now: number, times = 1): Promise<void> => {
    for (let i = 0; i < times; i++) {
      const { d } = await tryLogin(g, user, address, now, 'failure')
      if (!d.allowed) throw new Error(`attempt ${i} of ${user} refused: ${JSON.stringify(d)}`)
    }
  }

  t.test(`${name}: an attempt under every threshold is charged to its four counters and forwarded`, async (t) => {
    const g = await open(t)
    const d = await attempt(g, 'alice', '203.0.113.7', T0)
    t.match(d, { allowed: true, device: false })
    t.same(ticketOf(d).counters, ['userNetwork', 'network', 'user', 'logins'])
    t.same(await g.settle(ticketOf(d), 'failure', T0), { settled: true, blocks: [], issueDevice: false })
  })

  t.test(`${name}: userNetwork: the 5th failure from one network blocks the user there for 1m, and only there`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 4)
    const fifth = await tryLogin(g, 'alice', '203.0.113.7', T0 + S, 'failure')
    t.match(fifth.report?.blocks, [{ counter: 'userNetwork', user: g.userKeyOf('alice', true), network: g.networkKeyOf('203.0.113.7'), until: T0 + S + MIN, failures: 5, times: 1 }])
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 2 * S), { allowed: false, retryAfter: 59, refusedBy: ['userNetwork'], blocked: true })
    t.match(await attempt(g, 'ALICE', '203.0.113.7', T0 + 2 * S), { allowed: false }, 'one account, however it is spelled (caseInsensitive)')
    t.match(await attempt(g, 'alice', '198.51.100.1', T0 + 2 * S), { allowed: true }, 'alice from elsewhere')
    t.match(await attempt(g, 'bob', '203.0.113.7', T0 + 2 * S), { allowed: true }, 'bob from there')
  })

  t.test(`${name}: a block ends on time, and the counter starts afresh`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 5)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + MIN - 1), { allowed: false, retryAfter: 1 })
    await fail(g, 'alice', '203.0.113.7', T0 + MIN, 4)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + MIN + 1), { allowed: true }, 'four failures after the block do not block')
  })

  t.test(`${name}: blocks escalate 1m, 2m, 4m … up to 1h, and are forgotten after 24h`, async (t) => {
    const g = await open(t)
    let now = T0
    const lengths: number[] = []
    for (let i = 0; i < 8; i++) {
      await fail(g, 'alice', '203.0.113.7', now, 4)
      const { report } = await tryLogin(g, 'alice', '203.0.113.7', now, 'failure')
      const block = report?.blocks[0]
      lengths.push(((block?.until ?? 0) - now) / MIN)
      t.equal(block?.times, i + 1)
      const refused = await attempt(g, 'alice', '203.0.113.7', now + 1)
      t.equal(refused.allowed ? -1 : refused.retryAfter, Math.ceil(((block?.until ?? 0) - now - 1) / S), 'retryAfter: whole seconds to the end of the block')
      now = block?.until ?? now
    }
    t.same(lengths, [1, 2, 4, 8, 16, 32, 60, 60])
    now += 24 * HOUR
    await fail(g, 'alice', '203.0.113.7', now, 4)
    const { report } = await tryLogin(g, 'alice', '203.0.113.7', now, 'failure')
    t.match(report?.blocks, [{ until: now + MIN, times: 1 }], 'no block in the last 24 h: 1m again')
  })

  t.test(`${name}: failures older than the window are forgotten`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 4)
    await fail(g, 'alice', '203.0.113.7', T0 + 15 * MIN, 4)
    const { d, report } = await tryLogin(g, 'alice', '203.0.113.7', T0 + 16 * MIN, 'failure')
    t.match(d, { allowed: true }, 'eight failures, but not five within 15 minutes of the first')
    t.match(report?.blocks, [{ counter: 'userNetwork' }], 'the fifth within the new window blocks')
  })

  t.test(`${name}: network: 50 failures from one network, any users, block it; a known device still signs in`, async (t) => {
    const g = await open(t)
    const { token: carolsLaptop } = await tryLogin(g, 'carol', '192.0.2.9', T0, 'success')
    t.type(carolsLaptop, 'string', 'a success hands out a device token')
    for (let i = 0; i < 49; i++) await fail(g, `user${i}`, '192.0.2.9', T0 + i)
    const last = await tryLogin(g, 'user49', '192.0.2.9', T0 + 100, 'failure')
    t.match(last.report?.blocks, [{ counter: 'network', network: g.networkKeyOf('192.0.2.9'), failures: 50 }])
    t.notOk(last.report?.blocks[0]?.user, 'a network block names no user')
    t.match(await attempt(g, 'dave', '192.0.2.9', T0 + 200), { allowed: false, refusedBy: ['network'], retryAfter: 60 })
    t.match(await attempt(g, 'carol', '192.0.2.9', T0 + 200, carolsLaptop), { allowed: true, device: true }, 'carol on her laptop')
    t.match(await attempt(g, 'dave', '192.0.2.10', T0 + 200), { allowed: true }, 'the next address is another network')
  })

  t.test(`${name}: user: 20 failures from 20 networks block the user everywhere — but not on the user's own device`, async (t) => {
    const g = await open(t)
    const laptop = (await tryLogin(g, 'alice', '203.0.113.7', T0, 'success')).token as string
    for (let i = 0; i < 19; i++) await fail(g, 'alice', `198.51.100.${i}`, T0 + i)
    const last = await tryLogin(g, 'alice', '198.51.100.19', T0 + 100, 'failure')
    t.match(last.report?.blocks, [{ counter: 'user', user: g.userKeyOf('alice', true), failures: 20 }])
    t.match(await attempt(g, 'alice', '198.51.100.200', T0 + 200), { allowed: false, refusedBy: ['user'], blocked: true })
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 200), { allowed: false }, 'from her own network without the cookie: refused too')
    const mine = await attempt(g, 'alice', '203.0.113.7', T0 + 200, laptop)
    t.match(mine, { allowed: true, device: true }, 'her laptop is judged by its userNetwork counter only')
    t.same(ticketOf(mine).counters, ['userNetwork', 'logins'])
    t.equal((await g.settle(ticketOf(mine), 'success', T0 + 201)).issueDevice, false, 'a fresh token is kept as it is')
    t.match(await attempt(g, 'mallory', '203.0.113.7', T0 + 200, laptop), { allowed: true, device: false }, 'her token is no token for another user')
    t.match(await attempt(g, 'alice', '198.51.100.200', T0 + 200, `${laptop.slice(0, -1)}${laptop.endsWith('A') ? 'B' : 'A'}`), { allowed: false }, 'a forged token is no token')
    t.match(await attempt(g, 'alice', '198.51.100.200', T0 + 91 * 24 * HOUR, laptop), { device: false }, 'an expired token is no token')
  })

  t.test(`${name}: a device token is judged by its userNetwork counter, and blocked there like anyone`, async (t) => {
    const g = await open(t)
    const laptop = (await tryLogin(g, 'alice', '203.0.113.7', T0, 'success')).token as string
    for (let i = 0; i < 4; i++) await tryLogin(g, 'alice', '203.0.113.7', T0 + i, 'failure', laptop)
    const fifth = await tryLogin(g, 'alice', '203.0.113.7', T0 + 10, 'failure', laptop)
    t.match(fifth.report?.blocks, [{ counter: 'userNetwork' }], 'five typos on her own laptop block it for a minute')
    const again = await attempt(g, 'alice', '198.51.100.1', T0 + 20)
    t.match(again, { allowed: true }, 'her own failures with the token were not charged to the user counter')
  })

  t.test(`${name}: charges in flight count: racing attempts never exceed a threshold, and neutral refunds them`, async (t) => {
    const g = await open(t)
    const inFlight = await Promise.all(Array.from({ length: 5 }, async (_, i) => await attempt(g, 'alice', '203.0.113.7', T0 + i)))
    t.ok(inFlight.every((d) => d.allowed))
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 10), { allowed: false, refusedBy: ['userNetwork'], blocked: false, retryAfter: 1 }, 'saturated: retry soon')
    await g.settle(ticketOf(inFlight[0] as AttemptDecision), 'neutral', T0 + 20)
    const sixth = await attempt(g, 'alice', '203.0.113.7', T0 + 30)
    t.match(sixth, { allowed: true }, 'a neutral outcome gives its charge back')
    for (const d of [...inFlight.slice(1), sixth]) await g.settle(ticketOf(d), 'failure', T0 + 40)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 50), { allowed: false, blocked: true })
  })

  t.test(`${name}: neutral outcomes (5xx, timeouts, clients gone) are never counted`, async (t) => {
    const g = await open(t)
    for (let i = 0; i < 100; i++) {
      const { d } = await tryLogin(g, 'alice', '203.0.113.7', T0 + i, 'neutral')
      t.ok(d.allowed, `attempt ${i}`)
      if (!d.allowed) break
    }
    await fail(g, 'alice', '203.0.113.7', T0 + 200, 4)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 300), { allowed: true })
  })

  t.test(`${name}: a success clears userNetwork, refunds user and network, and counts as a login`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 4)
    await tryLogin(g, 'alice', '203.0.113.7', T0 + 1, 'success')
    await fail(g, 'alice', '203.0.113.7', T0 + 2, 4)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 3), { allowed: true }, 'her typos before the success are forgiven')

    // The user counter keeps the attacker's failures: her success does not wipe them.
    for (let i = 0; i < 19; i++) await fail(g, 'bob', `198.51.100.${i}`, T0 + i)
    await tryLogin(g, 'bob', '192.0.2.1', T0 + 50, 'success')
    const after = await tryLogin(g, 'bob', '198.51.100.99', T0 + 60, 'failure')
    t.match(after.report?.blocks, [{ counter: 'user' }])

    // Nor does any success clear a network's count: an attacker's own account would reset it between guesses.
    for (let i = 0; i < 49; i++) await fail(g, `u${i}`, '192.0.2.200', T0 + i)
    await tryLogin(g, 'erin', '192.0.2.200', T0 + 70, 'success')
    const net = await tryLogin(g, 'u99', '192.0.2.200', T0 + 80, 'failure')
    t.match(net.report?.blocks, [{ counter: 'network' }])
  })

  t.test(`${name}: maxLoginsPerHour: exactly that many successful logins an hour, in flight included`, async (t) => {
    const g = await open(t, '{ maxLoginsPerHour: 3 }')
    for (let i = 0; i < 3; i++) t.match((await tryLogin(g, 'bot', '203.0.113.7', T0 + i * MIN, 'success')).d, { allowed: true })
    const over = await attempt(g, 'bot', '198.51.100.1', T0 + 10 * MIN)
    t.match(over, { allowed: false, refusedBy: ['logins'], blocked: false, retryAfter: 50 * 60 }, 'until the hour since the first login is over')
    t.match(await attempt(g, 'bot', '198.51.100.1', T0 + HOUR), { allowed: true }, 'a new hour')

    const h = await open(t, '{ maxLoginsPerHour: 2 }')
    const racing = await Promise.all(Array.from({ length: 10 }, async (_, i) => await attempt(h, 'bot', `198.51.100.${i}`, T0)))
    t.equal(racing.filter((d) => d.allowed).length, 2, 'charged at the attempt: racing logins cannot pass the bound')
    t.match(racing.find((d) => !d.allowed), { refusedBy: ['logins'], retryAfter: 1 })
    const [first, second] = racing.filter((d) => d.allowed)
    await h.settle(ticketOf(first as AttemptDecision), 'failure', T0 + 1)
    t.match(await attempt(h, 'bot', '198.51.100.50', T0 + 2), { allowed: true }, 'a failed login is no login: its charge is refunded')
    await h.settle(ticketOf(second as AttemptDecision), 'success', T0 + 3)
  })

  t.test(`${name}: an attempt naming nobody is judged by its network's counters only, under the shared key of no name`, async (t) => {
    const g = await open(t)
    const nobody = async (address: string, now: number, deviceToken?: string): Promise<AttemptDecision> =>
      await g.attempt({ user: undefined, caseInsensitive: true, address, now, ...(deviceToken === undefined ? {} : { deviceToken }) })
    const first = await nobody('203.0.113.7', T0)
    t.same(ticketOf(first).counters, ['userNetwork', 'network'], 'no user counter (no account to protect), no logins counter')
    t.same(await g.settle(ticketOf(first), 'failure', T0), { settled: true, blocks: [], issueDevice: false })
    for (let i = 1; i < 4; i++) await g.settle(ticketOf(await nobody('203.0.113.7', T0 + i)), 'failure', T0 + i)
    const fifth = ticketOf(await nobody('203.0.113.7', T0 + 10))
    t.match((await g.settle(fifth, 'failure', T0 + 10)).blocks, [{ counter: 'userNetwork', user: g.userKeyOf('', true), network: g.networkKeyOf('203.0.113.7'), failures: 5 }], 'five failures naming nobody block that network\'s attempts naming nobody')
    t.match(await nobody('203.0.113.7', T0 + 20), { allowed: false, refusedBy: ['userNetwork'], retryAfter: 60 })
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 20), { allowed: true }, 'alice, named, from that network')
    t.match(await nobody('198.51.100.1', T0 + 20), { allowed: true }, 'nobody from another network')
    // A success naming nobody proves nobody: refunded, it clears nothing (an attacker's own account, spelt so, between his guesses), and gets no device token.
    for (let i = 0; i < 4; i++) await g.settle(ticketOf(await nobody('198.51.100.2', T0 + 30 + i)), 'failure', T0 + 30 + i)
    const ok = await nobody('198.51.100.2', T0 + 35)
    t.same(await g.settle(ticketOf(ok), 'success', T0 + 36), { settled: true, blocks: [], issueDevice: false })
    t.match((await g.settle(ticketOf(await nobody('198.51.100.2', T0 + 37)), 'failure', T0 + 37)).blocks, [{ counter: 'userNetwork', failures: 5 }], 'the fifth failure after it still blocks')
    // Twenty networks' failures naming nobody block no user anywhere.
    for (let i = 0; i < 25; i++) await g.settle(ticketOf(await nobody(`192.0.2.${i}`, T0 + 40 + i)), 'failure', T0 + 40 + i)
    t.match(await nobody('192.0.2.200', T0 + 100), { allowed: true }, 'no user counter to trip')
    // A device token is not looked at: nobody's attempt has no user for it to name.
    const laptop = (await tryLogin(g, 'carol', '192.0.2.99', T0, 'success')).token as string
    const withToken = await nobody('192.0.2.99', T0 + 101, laptop)
    t.match(withToken, { allowed: true, device: false })
    t.same(ticketOf(withToken).counters, ['userNetwork', 'network'])
  })

  t.test(`${name}: turned-off counters are not charged`, async (t) => {
    const g = await open(t, '{ user: false, network: false, maxLoginsPerHour: 0 }')
    const d = await attempt(g, 'alice', '203.0.113.7', T0)
    t.same(ticketOf(d).counters, ['userNetwork'])
    await g.settle(ticketOf(d), 'failure', T0)
    for (let i = 0; i < 30; i++) await fail(g, 'alice', `198.51.100.${i}`, T0 + i)
    t.match(await attempt(g, 'alice', '198.51.100.200', T0 + 100), { allowed: true }, 'no user counter')

    const h = await open(t, '{ userNetwork: false }')
    const laptop = (await tryLogin(h, 'bob', '203.0.113.7', T0, 'success')).token
    const d2 = await attempt(h, 'bob', '203.0.113.7', T0 + 1, laptop)
    t.same(ticketOf(d2).counters, ['network', 'user', 'logins'], 'without a userNetwork counter a device token exempts from nothing')
  })

  t.test(`${name}: observe: a refused attempt is charged nothing, so the counters hold what enforce would hold`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 5)
    // Under mode: observe the proxy forwards these anyway and does not settle them.
    for (let i = 0; i < 20; i++) t.match(await attempt(g, 'alice', '203.0.113.7', T0 + i), { allowed: false, retryAfter: 60 })
    await fail(g, 'alice', '203.0.113.7', T0 + MIN, 4)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + MIN + 1), { allowed: true }, 'the refusals added nothing')
  })

  t.test(`${name}: settling twice changes nothing more; a charge never settled is dropped at inFlightTimeout`, async (t) => {
    const g = await open(t)
    const d = await attempt(g, 'alice', '203.0.113.7', T0)
    t.equal((await g.settle(ticketOf(d), 'failure', T0)).settled, true)
    t.same(await g.settle(ticketOf(d), 'failure', T0), { settled: false, blocks: [], issueDevice: false })
    await fail(g, 'alice', '203.0.113.7', T0 + 1, 3)
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 2), { allowed: true }, 'four failures, not five: the second settle counted nothing')

    const h = await open(t)
    const stuck = await Promise.all(Array.from({ length: 5 }, async () => await attempt(h, 'bob', '203.0.113.8', T0)))
    t.match(await attempt(h, 'bob', '203.0.113.8', T0 + 2 * MIN - 1), { allowed: false })
    t.match(await attempt(h, 'bob', '203.0.113.8', T0 + 2 * MIN), { allowed: true }, 'the lost charges are dropped')
    t.match(await h.settle(ticketOf(stuck[0] as AttemptDecision), 'failure', T0 + 3 * MIN), { settled: false, blocks: [] }, 'a settle that comes too late finds nothing')
  })

  t.test(`${name}: an IPv6 client is its /64; an IPv4-mapped address is the IPv4 client`, async (t) => {
    const g = await open(t)
    for (let i = 1; i <= 5; i++) await fail(g, 'alice', `2001:db8:1:2::${i.toString(16)}`, T0 + i)
    t.match(await attempt(g, 'alice', '2001:db8:1:2:ffff:ffff:ffff:ffff', T0 + 10), { allowed: false }, 'rotating within the /64 changes nothing')
    t.match(await attempt(g, 'alice', '2001:db8:1:3::1', T0 + 10), { allowed: true }, 'the next /64 is another network')
    await fail(g, 'bob', '::ffff:192.0.2.1', T0, 5)
    t.match(await attempt(g, 'bob', '192.0.2.1', T0 + 10), { allowed: false })
  })

  t.test(`${name}: blocks are listed by hashes only, soonest first, and lifted by user`, async (t) => {
    const g = await open(t)
    await fail(g, 'Alice', '203.0.113.7', T0, 5)
    for (let i = 1; i <= 15; i++) await fail(g, 'alice', `198.51.100.${i}`, T0 + i)
    await fail(g, 'bob', '203.0.113.7', T0 + 20, 5)
    const list = await g.blocks(T0 + 30)
    t.equal(list.total, 3)
    t.same(list.blocks.map((b) => b.counter), ['userNetwork', 'user', 'userNetwork'], 'soonest to end first')
    const alice = g.userKeyOf('alice', true)
    t.same(list.blocks[0], { counter: 'userNetwork', user: alice, network: g.networkKeyOf('203.0.113.7'), until: T0 + MIN, failures: 5, times: 1 }, 'alice from there')
    t.same(list.blocks[1], { counter: 'user', user: alice, until: T0 + 15 + MIN, failures: 20, times: 1 }, 'alice from anywhere')
    t.notOk(/alice|bob|203\.0|198\.51/i.test(JSON.stringify(list)), 'no name or address in clear')
    t.same((await g.blocks(T0 + 30, 1)).blocks.length, 1, 'a limit')

    const lifted = await g.liftUser('ALICE', T0 + 40)
    t.same(lifted.map((b) => b.counter).sort(), ['user', 'userNetwork'], 'the name as written and lower-cased')
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 41), { allowed: true })
    t.match(await attempt(g, 'bob', '203.0.113.7', T0 + 41), { allowed: false }, 'bob stays blocked')
    t.same((await g.blocks(T0 + 41)).blocks.map((b) => b.user), [g.userKeyOf('bob', true)])
    t.same(await g.liftUser('nobody', T0 + 42), [], 'nothing to lift')
  })

  t.test(`${name}: blocks are lifted by network: an address, an IPv6 /64, an IPv4 /24`, async (t) => {
    const g = await open(t)
    await fail(g, 'alice', '203.0.113.7', T0, 5)
    await fail(g, 'bob', '203.0.113.8', T0, 5)
    await fail(g, 'carol', '2001:db8:1:2::1', T0, 5)
    for (let i = 0; i < 50; i++) await fail(g, `u${i}`, '192.0.2.1', T0 + i)
    t.equal((await g.blocks(T0 + 100)).total, 4)
    t.same((await g.liftNetwork('203.0.113.7', T0 + 100)).map((b) => b.counter), ['userNetwork'])
    t.match(await attempt(g, 'alice', '203.0.113.7', T0 + 101), { allowed: true })
    t.match(await attempt(g, 'bob', '203.0.113.8', T0 + 101), { allowed: false }, 'the next address is another network')
    t.same((await g.liftNetwork('2001:db8:1:2:abcd::/80', T0 + 100)).length, 1, 'a range within a /64 lifts that /64')
    t.same((await g.liftNetwork('192.0.2.0/24', T0 + 100)).map((b) => b.counter), ['network'])
    t.equal((await g.blocks(T0 + 100)).total, 1)
    await t.rejects(g.liftNetwork('10.0.0.0/8', T0), { code: 'SESSIONCAP_ERR_ADMIN_BAD_REQUEST' }, 'too wide to name every network')
    await t.rejects(g.liftNetwork('not-an-address', T0), { code: 'SESSIONCAP_ERR_ADMIN_BAD_REQUEST' })
  })

  t.test(`${name}: 500 attempts at once for one user reach the app exactly threshold times`, async (t) => {
    const g = await open(t)
    const one = await Promise.all(Array.from({ length: 500 }, async () => await attempt(g, 'alice', '203.0.113.7', T0)))
    t.equal(one.filter((d) => d.allowed).length, 5, 'one network: the userNetwork threshold')
    const many = await Promise.all(Array.from({ length: 500 }, async (_, i) => await attempt(g, 'bob', `10.0.${i >> 8}.${i & 255}`, T0)))
    t.equal(many.filter((d) => d.allowed).length, 20, '500 networks: the user threshold')
    for (const d of many) if (d.allowed) await g.settle(d.ticket, 'failure', T0 + 1)
    t.match(await attempt(g, 'bob', '10.9.9.9', T0 + 2), { allowed: false, blocked: true, refusedBy: ['user'] })
  })

  t.test(`${name}: an attempt in flight when its user is lifted settles into nothing (the lift is not undone)`, async (t) => {
    const g = await open(t)
    for (let i = 1; i <= 19; i++) await fail(g, 'alice', `198.51.100.${i}`, T0 + i)
    const last = ticketOf(await attempt(g, 'alice', '198.51.100.20', T0 + 20))
    t.equal((await g.liftUser('alice', T0 + 21)).length, 0, 'nothing blocked yet: the lift resets the counts')
    await g.settle(last, 'failure', T0 + 22)
    t.equal((await g.blocks(T0 + 23)).total, 0, 'the 20th failure, charged before the lift, blocks nobody')
    for (let i = 21; i <= 39; i++) await fail(g, 'alice', `198.51.100.${i}`, T0 + i + 10)
    t.match(await attempt(g, 'alice', '198.51.100.99', T0 + 60), { allowed: true }, 'the count started afresh at the lift')
  })
}
