import t from 'tap'
import { loadConfigText } from '../../src/config/load.js'
import { openLoginGuard } from '../../src/guard/index.js'
import { MemoryGuardStore } from '../../src/guard/memory-guard.js'
import { guardEnforced, guardRules } from '../../src/guard/rules.js'
import { guardConfig, TEST_SECRET } from './contract.js'

const BASE = 'upstream: http://127.0.0.1:1\nsession: { cookie: sessionid }\nlogin: [{ path: /login, user: { form: u } }]\n'
const problems = (yaml: string): string => {
  try {
    loadConfigText(BASE + yaml, 'test.yaml', {})
    return ''
  } catch (err) {
    return (err as Error).message
  }
}

t.test('the guard is on by default, with the issue\'s numbers', async (t) => {
  t.same(guardConfig(), {
    userNetwork: { failures: 5, window: 900_000 },
    network: { failures: 50, window: 900_000 },
    user: { failures: 20, window: 3_600_000 },
    maxLoginsPerHour: 60,
    ipv6Prefix: 64,
    block: { base: 60_000, max: 3_600_000, history: 86_400_000 },
    device: { cookie: 'sessioncap_device', maxAge: 90 * 86_400_000 },
    maxKeys: 100_000,
    inFlightTimeout: 120_000
  })
  t.same(guardRules(guardConfig()), {
    userNetwork: { failures: 5, window: 900_000 },
    network: { failures: 50, window: 900_000 },
    user: { failures: 20, window: 3_600_000 },
    logins: { max: 60, window: 3_600_000 },
    block: { base: 60_000, max: 3_600_000, history: 86_400_000 },
    inFlightTimeout: 120_000
  })
})

t.test('guard: false turns it off; each counter, the device cookie and the login cap can be turned off', async (t) => {
  t.equal(loadConfigText(`${BASE}guard: false\n`, 'test.yaml', {}).config.guard, false)
  const rules = guardRules(guardConfig('{ userNetwork: false, network: false, user: false, maxLoginsPerHour: 0, device: false, mode: observe }'))
  t.same(rules, { block: { base: 60_000, max: 3_600_000, history: 86_400_000 }, inFlightTimeout: 120_000 })
  t.match(guardConfig('{ mode: observe, device: false }'), { mode: 'observe', device: false })
  t.match(guardConfig('{ user: { failures: 10 }, block: { max: 30d } }'), { user: { failures: 10, window: 3_600_000 }, block: { base: 60_000, max: 30 * 86_400_000 } }, 'unwritten settings keep their defaults')
})

t.test('each wrong setting is reported at its own key, with what was expected', async (t) => {
  const message = problems('guard: { maxKeys: 0, user: { failures: many, windw: 1h }, ipv6Prefix: 40, bogus: 1 }\n')
  t.match(message, /guard: expected false \(no login guard\), or a mapping of guard settings/)
  t.match(message, /guard\.maxKeys: expected a positive number of counter keys, got 0/)
  t.match(message, /guard\.user\.failures: expected a positive whole number of failed logins, got "many"/)
  t.match(message, /guard\.user\.windw: unknown key \(expected one of failures, window\)/)
  t.match(message, /guard\.ipv6Prefix: expected an IPv6 prefix length between 48 and 128/)
  t.match(message, /guard\.bogus: unknown key/)
  t.notMatch(message, /got nothing/, 'defaults are not reported missing')
  t.match(problems('guard: yes\n'), /guard: expected false \(no login guard\)/)
  t.match(problems('guard: { device: { cookie: "a b" } }\n'), /guard\.device\.cookie: expected a cookie name/)
})

t.test('what the schema cannot see', async (t) => {
  t.match(problems('guard: { block: { base: 2h } }\n'), /guard\.block\.max: expected at least block\.base \(2h\)/)
  t.match(problems('guard: { block: { base: 0s } }\n'), /guard\.block\.base: expected a duration longer than 0s/)
  t.match(problems('guard: { network: { window: 0s } }\n'), /guard\.network\.window: expected a duration longer than 0s/)
  t.match(problems('guard: { device: { maxAge: 0s } }\n'), /guard\.device\.maxAge: expected a duration longer than 0s/)
  t.match(problems('guard: { device: { cookie: sessionid } }\n'), /guard\.device\.cookie: is the app's session cookie/)
  t.match(problems('guard: { inFlightTimeout: 60s }\n'), /guard\.inFlightTimeout: expected longer than proxy\.timeout \(60s\)/)
  t.equal(problems('proxy: { timeout: 10s }\nguard: { inFlightTimeout: 30s }\n'), '')
})

t.test('openLoginGuard: none with guard: false, the memory store with store type memory', async (t) => {
  const load = (yaml: string) => loadConfigText(BASE + yaml, 'test.yaml', {}).config
  t.equal(await openLoginGuard(load('guard: false\n'), [TEST_SECRET], { warn: () => {} }), undefined)
  const guard = await openLoginGuard(load(''), [TEST_SECRET], { warn: () => {} })
  t.ok(guard?.store instanceof MemoryGuardStore)
  await guard?.close()
})

t.test('guardEnforced: guard.mode, else the top-level mode', async (t) => {
  const load = (yaml: string) => loadConfigText(BASE + yaml, 'test.yaml', {}).config
  t.equal(guardEnforced(load('')), true)
  t.equal(guardEnforced(load('mode: observe\n')), false)
  t.equal(guardEnforced(load('mode: observe\nguard: { mode: enforce }\n')), true)
  t.equal(guardEnforced(load('guard: { mode: observe }\n')), false)
  t.equal(guardEnforced(load('guard: false\n')), false)
})
