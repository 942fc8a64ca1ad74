import t from 'tap'
import { createDeviceTokens } from '../../src/guard/device-token.js'
import { LoginGuard } from '../../src/guard/login-guard.js'
import { MemoryGuardStore } from '../../src/guard/memory-guard.js'
import { guardRules } from '../../src/guard/rules.js'
import { guardConfig, T0, TEST_SECRET } from './contract.js'

const DAY = 86_400_000
const USER = 'J4EaBGo3Er8y3Fxlrek6Ip'
const OLD_SECRET = 'the-previous-secret-that-is-long-enough-0123'

t.test('a token names its user key and device, and verifies', async (t) => {
  const tokens = createDeviceTokens({ secrets: [TEST_SECRET], maxAge: 90 * DAY })
  const token = tokens.sign(USER, T0)
  t.match(token, /^v1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}\.[0-9a-z]+\.[A-Za-z0-9_-]{22}$/, 'cookie-safe, no name in clear')
  const check = tokens.verify(token, T0 + DAY)
  t.match(check, { valid: true, renew: false, userKey: USER, issuedAt: T0 })
  t.not(tokens.sign(USER, T0), token, 'a new device id each time')
  const deviceId = check.valid ? check.deviceId : ''
  t.match(tokens.verify(tokens.sign(USER, T0 + DAY, deviceId), T0 + DAY), { valid: true, deviceId }, 'renewed: the same device')
})

t.test('a changed token, another secret, or garbage is invalid, and says so without throwing', async (t) => {
  const tokens = createDeviceTokens({ secrets: [TEST_SECRET], maxAge: 90 * DAY })
  const token = tokens.sign(USER, T0)
  const parts = token.split('.')
  const invalid = { valid: false, renew: false, userKey: null }
  t.same(tokens.verify([parts[0], 'AAAAAAAAAAAAAAAAAAAAAA', ...parts.slice(2)].join('.'), T0), invalid, 'another user key')
  t.same(tokens.verify([...parts.slice(0, 3), (Number.parseInt(parts[3] as string, 36) + 1).toString(36), parts[4]].join('.'), T0), invalid, 'another issue time')
  t.same(tokens.verify(token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'), T0), invalid, 'another signature')
  t.same(createDeviceTokens({ secrets: [OLD_SECRET], maxAge: 90 * DAY }).verify(token, T0), invalid, 'another secret')
  for (const junk of ['', 'v1', 'v1....', `${token}x`, `v2${token.slice(2)}`, 'x'.repeat(10_000), token.replace('.', ':')]) t.same(tokens.verify(junk, T0), invalid, JSON.stringify(junk.slice(0, 20)))
  t.same(tokens.verify(42 as unknown as string, T0), invalid, 'not even a string')
  t.throws(() => createDeviceTokens({ secrets: [], maxAge: DAY }), TypeError)
})

t.test('rotation: sign with the first secret, verify with all; an older secret asks for renewal', async (t) => {
  const before = createDeviceTokens({ secrets: [OLD_SECRET], maxAge: 90 * DAY })
  const after = createDeviceTokens({ secrets: [TEST_SECRET, OLD_SECRET], maxAge: 90 * DAY })
  t.match(after.verify(before.sign(USER, T0), T0), { valid: true, renew: true, userKey: USER })
  t.match(after.verify(after.sign(USER, T0), T0), { valid: true, renew: false })
  t.match(before.verify(after.sign(USER, T0), T0), { valid: false }, 'a gateway not yet told of the new secret refuses it')
})

t.test('age: renewed past half its life, refused past maxAge or from the future', async (t) => {
  const tokens = createDeviceTokens({ secrets: [TEST_SECRET], maxAge: 90 * DAY })
  const token = tokens.sign(USER, T0)
  t.match(tokens.verify(token, T0 + 45 * DAY - 1_000), { valid: true, renew: false })
  t.match(tokens.verify(token, T0 + 45 * DAY), { valid: true, renew: true })
  t.match(tokens.verify(token, T0 + 90 * DAY - 1_000), { valid: true })
  t.match(tokens.verify(token, T0 + 90 * DAY), { valid: false })
  t.match(tokens.verify(token, T0 - 60_000), { valid: true }, 'a gateway whose clock is a little behind')
  t.match(tokens.verify(token, T0 - 10 * 60_000), { valid: false }, 'issued ten minutes in the future: not ours')
})

t.test('through the guard: a success hands a token out once, and a renewal keeps the device id', async (t) => {
  const config = guardConfig()
  const make = (secrets: string[]) => new LoginGuard({ store: new MemoryGuardStore({ maxKeys: 100 }), secrets, rules: guardRules(config), ipv6Prefix: 64, deviceMaxAge: 90 * DAY })
  const old = make([OLD_SECRET])
  const login = async (g: LoginGuard, now: number, deviceToken?: string) => {
    const d = await g.attempt({ user: 'alice', caseInsensitive: false, address: '203.0.113.7', now, ...(deviceToken === undefined ? {} : { deviceToken }) })
    if (!d.allowed) return undefined
    const report = await g.settle(d.ticket, 'success', now)
    return { d, report, token: report.issueDevice ? g.deviceToken(d.ticket, now) : undefined }
  }
  const first = await login(old, T0)
  const token = first?.token as string
  t.type(token, 'string')
  const g = make([TEST_SECRET, OLD_SECRET])
  const renewed = await login(g, T0 + DAY, token)
  t.match(renewed?.d, { device: true, ticket: { renewDevice: true } })
  const fresh = renewed?.token as string
  t.type(fresh, 'string', 'signed with an older secret: renewed')
  t.equal(fresh.split('.')[2], token.split('.')[2], 'the same device')
  t.equal((await login(g, T0 + 2 * DAY, fresh))?.token, undefined, 'a fresh token is left as it is')
  const failed = await g.attempt({ user: 'alice', caseInsensitive: false, address: '203.0.113.7', now: T0 + 3 * DAY })
  t.equal(failed.allowed && (await g.settle(failed.ticket, 'failure', T0 + 3 * DAY)).issueDevice, false, 'a failure hands nothing out')
  const off = new LoginGuard({ store: new MemoryGuardStore({ maxKeys: 100 }), secrets: [TEST_SECRET], rules: guardRules(config), ipv6Prefix: 64 })
  const none = await login(off, T0, fresh)
  t.match(none, { d: { device: false }, report: { settled: true } }, 'guard.device: false: tokens are neither read nor handed out')
  t.equal(none?.token, undefined)
  t.throws(() => off.deviceToken(none?.d.allowed === true ? none.d.ticket : ({} as never), T0), TypeError, 'and cannot be asked for')
  t.throws(() => new LoginGuard({ store: new MemoryGuardStore({ maxKeys: 1 }), secrets: [], rules: guardRules(config), ipv6Prefix: 64 }), TypeError)
})
