import t from 'tap'
import { createHmac } from 'node:crypto'
import { clientNetwork, counterKey, createGuardHasher, guardUser, networkKey, networksIn, parseCounterKey, userKey } from '../../src/guard/keys.js'

const SECRET = 'a-test-secret-that-is-long-enough-0123456789'
const hash = createGuardHasher(SECRET)

t.test('users are normalised as the session limit does: NFKC, trimmed, lower-cased under caseInsensitive', async (t) => {
  t.equal(guardUser('ｆｕｌｌｗｉｄｔｈ', false), 'fullwidth', 'fullwidth letters are the plain ones (NFKC)')
  t.equal(guardUser('ＡＬＩＣＥ', true), 'alice')
  t.equal(guardUser('  alice\u3000', false), 'alice', 'trimmed, ideographic space too')
  t.equal(guardUser('Alice', true), guardUser('alice', true), 'Alice is alice under caseInsensitive')
  t.not(guardUser('Alice', false), guardUser('alice', false), 'and not otherwise')
  t.equal(guardUser('ﬁle', false), 'file', 'ligatures decomposed')
  t.equal(guardUser('   ', false), '', 'no name: the shared empty name')
  t.equal(guardUser('x'.repeat(100_000), false), '', 'too long for the limit: the shared empty name')
})

t.test('keys are keyed hashes: 22 base64url characters, never the name, different per secret and per kind', async (t) => {
  const k = userKey(hash, 'alice')
  t.match(k, /^[A-Za-z0-9_-]{22}$/)
  t.equal(userKey(hash, guardUser('ｆｕｌｌｗｉｄｔｈ', true)), userKey(hash, guardUser('FullWidth', true)), 'one key for every spelling of one account')
  const derived = createHmac('sha256', SECRET).update('sessioncap guard keys v1').digest()
  t.equal(k, createHmac('sha256', derived).update('u\0alice').digest('base64url').slice(0, 22), 'HMAC-SHA256 under a key derived from the secret')
  t.not(k, userKey(createGuardHasher('another-secret-that-is-long-enough-000'), 'alice'))
  t.not(userKey(hash, '1.2.3.4'), networkKey(hash, '1.2.3.4'), 'a user named like an address is not that network')
})

t.test('client networks: IPv4 as is, IPv6 by its /64 (or the configured prefix), IPv4-mapped as IPv4', async (t) => {
  t.equal(clientNetwork('203.0.113.7', 64), '203.0.113.7')
  t.equal(clientNetwork('2001:db8:1:2::1', 64), '2001:db8:1:2:0:0:0:0/64')
  t.equal(clientNetwork('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff', 64), '2001:db8:1:2:0:0:0:0/64', 'every address of a /64, every spelling')
  t.not(clientNetwork('2001:db8:1:3::1', 64), clientNetwork('2001:db8:1:2::1', 64), 'the next /64 is another network')
  t.equal(clientNetwork('2001:db8:1:3::1', 48), clientNetwork('2001:db8:1:2::1', 48), 'ipv6Prefix 48: one /48')
  t.not(clientNetwork('2001:db8::1', 128), clientNetwork('2001:db8::2', 128), 'ipv6Prefix 128: each address')
  t.equal(clientNetwork('::ffff:192.0.2.1', 64), '192.0.2.1', 'IPv4-mapped (a dual-stack socket)')
  t.equal(clientNetwork('::ffff:c000:201', 64), '192.0.2.1', 'IPv4-mapped, written in hex')
  t.equal(clientNetwork('::FFFF:192.0.2.1', 64), '192.0.2.1')
  t.equal(clientNetwork('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64', 'a zone names an interface, not a network')
  t.equal(clientNetwork('::', 64), '0:0:0:0:0:0:0:0/64')
  t.equal(clientNetwork('64:ff9b::192.0.2.1', 96), '64:ff9b:0:0:0:0:0:0/96', 'an embedded IPv4 other than mapped stays IPv6')
  t.equal(clientNetwork(undefined, 64), 'unknown', 'no address (a Unix socket): one shared network')
  t.equal(clientNetwork('not an address', 64), 'unknown')
  t.equal(clientNetwork('01.2.3.4', 64), 'unknown', 'no ambiguous spellings of IPv4')
})

t.test('networksIn: what an operator\'s address or CIDR range lifts', async (t) => {
  t.same(networksIn('203.0.113.7', 64), ['203.0.113.7'])
  t.same(networksIn('203.0.113.7/30', 64), ['203.0.113.4', '203.0.113.5', '203.0.113.6', '203.0.113.7'], 'a range from any address in it')
  const c24 = networksIn('192.0.2.0/24', 64)
  t.equal(c24.length, 256)
  t.same([c24[0], c24[255]], ['192.0.2.0', '192.0.2.255'])
  t.equal(networksIn('10.0.0.0/16', 64).length, 65_536, 'an IPv4 /16 at most')
  t.throws(() => networksIn('10.0.0.0/15', 64), { message: /covers 131072 addresses/ })
  t.same(networksIn('2001:db8:1:2::99', 64), ['2001:db8:1:2:0:0:0:0/64'], 'an IPv6 address: its network')
  t.same(networksIn('2001:db8:1:2:abcd::/80', 64), ['2001:db8:1:2:0:0:0:0/64'], 'narrower than a network: that network')
  const v6 = networksIn('2001:db8:1:200::/56', 64)
  t.equal(v6.length, 256)
  t.same([v6[0], v6[255]], ['2001:db8:1:200:0:0:0:0/64', '2001:db8:1:2ff:0:0:0:0/64'])
  t.equal(networksIn('2001:db8::/48', 64).length, 65_536)
  t.throws(() => networksIn('2001:db8::/47', 64), { message: /2\^17/ })
  t.same(networksIn('2001:db8::/48', 48), ['2001:db8:0:0:0:0:0:0/48'], 'with /48 networks a /48 is one')
  t.same(networksIn('::ffff:192.0.2.0/126', 64), ['192.0.2.0', '192.0.2.1', '192.0.2.2', '192.0.2.3'], 'an IPv4-mapped range is IPv4')
  t.throws(() => networksIn('::ffff:192.0.2.0/90', 64), RangeError)
  for (const bad of ['', 'x', '1.2.3.4/33', '1.2.3.4/ab', '1.2.3.4/', '2001:db8::/129', '1.2.3']) t.throws(() => networksIn(bad, 64), RangeError, JSON.stringify(bad))
})

t.test('counter names: each kind, and back', async (t) => {
  t.equal(counterKey('userNetwork', 'U', 'N'), 'un:U:N')
  t.equal(counterKey('network', 'U', 'N'), 'n:N')
  t.equal(counterKey('user', 'U', 'N'), 'u:U')
  t.equal(counterKey('logins', 'U', 'N'), 'u:U', 'the logins counter lives with the user\'s')
  t.same(parseCounterKey('un:U:N'), { counter: 'userNetwork', user: 'U', network: 'N' })
  t.same(parseCounterKey('n:N'), { counter: 'network', network: 'N' })
  t.same(parseCounterKey('u:U'), { counter: 'user', user: 'U' })
  t.equal(parseCounterKey('l:U'), undefined, 'logins never block')
  t.equal(parseCounterKey('blocks'), undefined)
})
