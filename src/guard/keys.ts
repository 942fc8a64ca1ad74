import { createHmac } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { hmacSha256 } from '../http/session-hash.js'
import { normalizeUser } from '../domain/user.js'
import type { CounterKind, FailureCounter } from './guard.js'

/**
 * The guard's keys: who and where an attempt comes from, as keyed hashes.
 * Pure functions; nothing here touches a store.
 *
 * A store (memory, Redis, a snapshot, a log) never holds a user name or an
 * address in clear (Symfony's DefaultLoginRateLimiter hashes its keys with a
 * secret too): without the gateway's secret a hash cannot be checked against
 * a guessed name. An operator looks a user or a network up by hashing it
 * with the same functions (the admin API does).
 */
export type GuardHasher = (value: string) => string

/**
 * HMAC-SHA256 (session-hash.ts `hmacSha256`, RFC 2104) under a key derived
 * from the gateway's secret for the guard alone, so no value a client sends
 * (a cookie, a user name) can ever hash the same in two places. 22 base64url
 * characters (132 bits), as session ids: no collision in reach, small keys.
 */
export function createGuardHasher (secret: string | Buffer): GuardHasher {
  const key = createHmac('sha256', secret).update('sessioncap guard keys v1').digest()
  const hmac = hmacSha256(key)
  return (value) => hmac(value).slice(0, 22)
}

/**
 * A user as the guard counts it: as the session limit does (domain/user.ts:
 * NFKC, trimmed, lower-cased when the route is `caseInsensitive`), so one
 * account is one key for both and `ＡＬＩＣＥ` gets no budget of its own
 * (one account under two spellings doubling the budget: Authelia
 * GHSA-m5mf-3963-4x26). A name the limit would refuse (empty, too long)
 * shares the one key of the empty name: such attempts limit each other,
 * never a real account.
 */
export function guardUser (name: string, caseInsensitive: boolean): string {
  return normalizeUser(name, caseInsensitive) ?? ''
}

export const MIN_IPV6_PREFIX = 48
export const MAX_IPV6_PREFIX = 128
/** The network of a client without an IP address (a Unix socket): one shared network. */
export const UNKNOWN_NETWORK = 'unknown'

/**
 * The client network an address belongs to: an IPv4 address as it is (one
 * address is one subscriber, or one NAT), an IPv6 address by its
 * `ipv6Prefix` network (a /64 by default: one subscriber gets a whole /64 and
 * can rotate addresses within it at will — express-rate-limit#503), an
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, what a dual-stack socket
 * reports for an IPv4 client) as the IPv4 address. Canonical text, so every
 * spelling of one network is one key. The address must be the one the proxy
 * trusts (`proxy.trustProxy`): a client-supplied `X-Forwarded-For` would let
 * an attacker pick a new network per attempt (django-defender#32, #96).
 */
export function clientNetwork (address: string | undefined, ipv6Prefix: number): string {
  if (address === undefined) return UNKNOWN_NETWORK
  // node:net accepts only the canonical dotted quad (no leading zeros): it is its own spelling.
  if (isIPv4(address)) return address
  const v6 = ipv6Bytes(address)
  if (v6 === undefined) return UNKNOWN_NETWORK
  const mapped = mappedIpv4(v6)
  if (mapped !== undefined) return mapped.join('.')
  return ipv6Network(toBigInt(v6), ipv6Prefix)
}

export function userKey (hash: GuardHasher, user: string): string {
  return hash(`u\0${user}`)
}

export function networkKey (hash: GuardHasher, network: string): string {
  return hash(`n\0${network}`)
}

/** Most networks one lift may name (an IPv4 /16, or 65,536 IPv6 networks). */
export const MAX_LIFT_NETWORKS = 65_536

/**
 * The networks (as `clientNetwork` writes them) an operator's address or
 * CIDR range covers, to lift their blocks. Keys are hashes, so a range
 * cannot be matched against them: each network in it is named and hashed.
 *
 * - an address: its network (an IPv6 address: its `ipv6Prefix` network);
 * - a range at least as wide as the guard's networks (IPv4 /24, IPv6 /56
 *   with /64 networks): every network in it, up to `MAX_LIFT_NETWORKS`;
 * - a range narrower than one network (IPv6 /80 with /64 networks): the one
 *   network it is in — the guard never counted anything finer.
 *
 * Throws a RangeError saying why for anything else.
 */
export function networksIn (text: string, ipv6Prefix: number): string[] {
  const slash = text.indexOf('/')
  const address = slash === -1 ? text : text.slice(0, slash)
  const lengthText = slash === -1 ? undefined : text.slice(slash + 1)
  if (lengthText !== undefined && !/^[0-9]{1,3}$/.test(lengthText)) throw new RangeError(`not a prefix length: ${JSON.stringify(lengthText)}`)
  const length = lengthText === undefined ? undefined : Number(lengthText)

  let v4 = ipv4Bytes(address)
  let v4Length = length
  const v6 = v4 === undefined ? ipv6Bytes(address) : undefined
  if (v6 !== undefined) {
    const mapped = mappedIpv4(v6)
    if (mapped !== undefined) {
      v4 = mapped
      if (length !== undefined) {
        if (length < 96) throw new RangeError('an IPv4-mapped range must be /96 or longer')
        v4Length = length - 96
      }
    }
  }
  if (v4 !== undefined) {
    const len = v4Length ?? 32
    if (len > 32) throw new RangeError('an IPv4 prefix length is at most 32')
    const count = 2 ** (32 - len)
    if (count > MAX_LIFT_NETWORKS) throw new RangeError(`${text} covers ${count} addresses; at most ${MAX_LIFT_NETWORKS} can be lifted at once`)
    const n = v4.reduce((acc, b) => acc * 256 + b, 0)
    const base = n - n % count
    return Array.from({ length: count }, (_, i) => {
      const n = base + i
      return [Math.floor(n / 2 ** 24) % 256, Math.floor(n / 2 ** 16) % 256, Math.floor(n / 2 ** 8) % 256, n % 256].join('.')
    })
  }
  if (v6 === undefined) throw new RangeError(`not an IP address or CIDR range: ${JSON.stringify(text)}`)
  const len = length ?? 128
  if (len > 128) throw new RangeError('an IPv6 prefix length is at most 128')
  if (len >= ipv6Prefix) return [ipv6Network(toBigInt(v6), ipv6Prefix)]
  const bits = ipv6Prefix - len
  if (bits > 16) throw new RangeError(`${text} covers 2^${bits} /${ipv6Prefix} networks; at most ${MAX_LIFT_NETWORKS} can be lifted at once`)
  const step = 1n << BigInt(128 - ipv6Prefix)
  const base = toBigInt(v6) & ~((1n << BigInt(128 - len)) - 1n)
  return Array.from({ length: 2 ** bits }, (_, i) => ipv6Network(base + BigInt(i) * step, ipv6Prefix))
}

function ipv4Bytes (text: string): number[] | undefined {
  if (!isIPv4(text)) return undefined
  return text.split('.').map(Number)
}

/** The 16 bytes of an IPv6 address (a zone, `%eth0`, is dropped: it names an interface, not a network). */
function ipv6Bytes (text: string): number[] | undefined {
  const zone = text.indexOf('%')
  const addr = zone === -1 ? text : text.slice(0, zone)
  if (!isIPv6(addr)) return undefined
  let head = addr
  const tail: number[] = []
  // A trailing dotted quad (`::ffff:192.0.2.1`) is the last two groups.
  const lastColon = addr.lastIndexOf(':')
  if (addr.slice(lastColon + 1).includes('.')) {
    const quad = ipv4Bytes(addr.slice(lastColon + 1))
    if (quad === undefined) return undefined
    tail.push(...quad)
    head = addr.slice(0, lastColon + 1)
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1)
  }
  const groups = (part: string): number[] => part === '' ? [] : part.split(':').map((g) => parseInt(g, 16))
  const gap = head.indexOf('::')
  const left = gap === -1 ? groups(head) : groups(head.slice(0, gap))
  const right = gap === -1 ? [] : groups(head.slice(gap + 2))
  const missing = 8 - tail.length / 2 - left.length - right.length
  const all = [...left, ...Array<number>(Math.max(0, missing)).fill(0), ...right]
  const bytes = all.flatMap((g) => [g >> 8, g & 0xff])
  bytes.push(...tail)
  return bytes.length === 16 ? bytes : undefined
}

/** `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2) is the IPv4 client a.b.c.d. */
function mappedIpv4 (bytes: number[]): number[] | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined
  return bytes.slice(12)
}

function toBigInt (bytes: number[]): bigint {
  let n = 0n
  for (const b of bytes) n = (n << 8n) | BigInt(b)
  return n
}

/** `2001:db8:0:1:0:0:0:0/64`: all eight groups, lower-case, no leading zeros — one spelling per network. */
function ipv6Network (address: bigint, prefix: number): string {
  const masked = address & ~((1n << BigInt(128 - prefix)) - 1n)
  const groups: string[] = []
  for (let i = 7; i >= 0; i--) groups.push(((masked >> BigInt(16 * i)) & 0xffffn).toString(16))
  return `${groups.join(':')}/${prefix}`
}

/**
 * A counter's name in a store (the Redis keys add a prefix and hash tag):
 * `un:USER:NET`, `n:NET`, `u:USER`. The logins counter lives with the user's
 * (`u:USER`, fields of its own): an attempt touches three keys, not four. The
 * userNetwork key names its user and network hashes apart, so every block of
 * one user, or of one network, can be found and lifted (a hash of the pair
 * could not be).
 */
export function counterKey (kind: CounterKind, user: string, network: string): string {
  switch (kind) {
    case 'userNetwork': return `un:${user}:${network}`
    case 'network': return `n:${network}`
    case 'user':
    case 'logins': return `u:${user}`
  }
}

/** What a blocked counter's name says: its counter, and the hashes it holds. Undefined: not a counter's name. */
export function parseCounterKey (name: string): { counter: FailureCounter, user?: string, network?: string } | undefined {
  const [kind, a, b] = name.split(':')
  if (kind === 'un' && a !== undefined && b !== undefined) return { counter: 'userNetwork', user: a, network: b }
  if (kind === 'n' && a !== undefined) return { counter: 'network', network: a }
  if (kind === 'u' && a !== undefined) return { counter: 'user', user: a }
  return undefined
}
