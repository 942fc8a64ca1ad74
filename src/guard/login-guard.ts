import { randomBytes, timingSafeEqual } from 'node:crypto'
import { errors } from '../errors.js'
import { createDeviceTokens, type DeviceTokens } from './device-token.js'
import type { BlockInfo, BlockList, ChargeRequest, ChargeResult, CounterKind, GuardRules, GuardStore, Outcome, SettleResult, Ticket } from './guard.js'
import { clientNetwork, createGuardHasher, guardUser, networkKey, networksIn, userKey, type GuardHasher } from './keys.js'

export interface LoginGuardOptions {
  store: GuardStore
  /**
   * The gateway's secret, then any earlier ones: the first keys the hashes
   * and signs device tokens; all of them verify device tokens (rotation).
   */
  secrets: ReadonlyArray<string | Buffer>
  rules: GuardRules
  /** `guard.ipv6Prefix`. */
  ipv6Prefix: number
  /** `guard.device.maxAge`; undefined: no device tokens (`guard.device: false`). */
  deviceMaxAge?: number
}

export interface AttemptInput {
  /**
   * The user the login request names, as read from it (normalised here);
   * undefined: it names nobody the gateway can read (`ChargeRequest.unnamed`:
   * judged by its network's counters only, no device token looked at or given).
   */
  user: string | undefined
  /** The login route's `caseInsensitive`. */
  caseInsensitive: boolean
  /** The client's address as the proxy trusts it (`request.ip` under `proxy.trustProxy`); undefined on a Unix socket. */
  address: string | undefined
  /** The device cookie's value, when the request carried one. */
  deviceToken?: string
  now: number
}

/** What the proxy keeps with the request until the app has answered. */
export interface LoginTicket extends Ticket {
  /** The device the attempt came from, when it carried a valid token for this user. */
  readonly deviceId?: string
  /** That token should be replaced on a success (signed with an earlier secret, or past half its life). */
  readonly renewDevice: boolean
  /** The attempt named nobody: a success gets no device token (it would name nobody's key). */
  readonly unnamed: boolean
}

export type AttemptDecision =
  /** Forward the request; settle the ticket once its outcome is known. `device`: judged as a known device. */
  | { allowed: true, ticket: LoginTicket, device: boolean }
  /**
   * Answer 429 without forwarding (under `mode: observe`: forward, and do not
   * settle — nothing was charged). `retryAfter`: whole seconds, at least 1.
   * `refusedBy` and `blocked` are for logs and metrics, never for the
   * client: the answer must not tell which counter refused, nor whether the
   * user exists (keycloak#20651).
   */
  | { allowed: false, retryAfter: number, refusedBy: CounterKind[], blocked: boolean, device: boolean }

export interface SettleReport extends SettleResult {
  /**
   * After a success from a browser without a valid device token (or with one
   * to renew): set the device cookie to `deviceToken(ticket, now)`. Signing
   * is its own call, so the counting step stays the counting step.
   */
  issueDevice: boolean
}

/**
 * The login guard as the proxy and the admin API call it: names and
 * addresses in, keyed hashes to the store, seconds out. Knows no HTTP.
 *
 * Observe mode needs nothing from here: `attempt` decides exactly as under
 * enforce, and a refused attempt is charged nothing, so the counters hold
 * what they would hold under enforce (switching to enforce starts from the
 * truth). The caller forwards a refused attempt anyway, reports "would
 * refuse", and does not settle it.
 */
export class LoginGuard {
  readonly #store: GuardStore
  readonly #rules: GuardRules
  readonly #ipv6Prefix: number
  readonly #hash: GuardHasher
  /** One hasher per secret: a token signed before a rotation names the user's key under the secret of its day. */
  readonly #hashes: GuardHasher[]
  readonly #devices: DeviceTokens | undefined
  /** Attempt ids: unique across a fleet (a random prefix per process), cheaper than random bytes each. */
  readonly #idPrefix = randomBytes(9).toString('base64url')
  #seq = 0
  /** Address → its network's key (`#networkKeyOfAddress`). */
  readonly #networkKeys = new Map<string, string>()

  constructor (opts: LoginGuardOptions) {
    const first = opts.secrets[0]
    if (first === undefined) throw new TypeError('the login guard needs a secret')
    this.#store = opts.store
    this.#rules = opts.rules
    this.#ipv6Prefix = opts.ipv6Prefix
    this.#hashes = opts.secrets.map((secret) => createGuardHasher(secret))
    this.#hash = this.#hashes[0] as GuardHasher
    this.#devices = opts.deviceMaxAge === undefined ? undefined : createDeviceTokens({ secrets: opts.secrets, maxAge: opts.deviceMaxAge })
  }

  get store (): GuardStore {
    return this.#store
  }

  /**
   * Step 1: in the login route's preHandler, once the user is read, before
   * forwarding. Answers without a promise when the store never waits
   * (memory); a store's error is thrown (or rejected) as it comes.
   */
  attempt (input: AttemptInput): AttemptDecision | Promise<AttemptDecision> {
    const unnamed = input.user === undefined
    // Nobody named: the shared key of no name (keys.ts `guardUser`: names the limit refuses share it too).
    const user = this.userKeyOf(input.user ?? '', input.caseInsensitive)
    const network = this.#networkKeyOfAddress(input.address)
    let deviceId: string | undefined
    let renewDevice = false
    if (input.deviceToken !== undefined && this.#devices !== undefined && !unnamed) {
      const token = this.#devices.verify(input.deviceToken, input.now)
      // A token of another user's device is no token for this one.
      if (token.valid && this.#names(token.userKey, user, input)) {
        deviceId = token.deviceId
        renewDevice = token.renew
      }
    }
    const req: ChargeRequest = { id: `${this.#idPrefix}${(this.#seq++).toString(36)}`, user, network, device: deviceId !== undefined, unnamed, now: input.now, rules: this.#rules }
    const store = this.#store
    if (store.chargeNow !== undefined) return decision(store.chargeNow(req), deviceId, renewDevice, unnamed)
    return store.charge(req).then((result) => decision(result, deviceId, renewDevice, unnamed))
  }

  /**
   * Step 2: in the response watcher, once the outcome is classified (and on
   * client disconnect: `neutral`). Settling twice changes nothing more.
   * Without a promise when the store never waits (memory).
   */
  settle (ticket: LoginTicket, outcome: Outcome, now: number): SettleReport | Promise<SettleReport> {
    const store = this.#store
    // A success naming nobody proves nobody: it must not clear the network's
    // shared count of such attempts (an attacker with an account of his own,
    // spelt so, would clear it between guesses). It is refunded instead.
    const counted = ticket.unnamed && outcome === 'success' ? 'neutral' : outcome
    if (store.settleNow !== undefined) return this.#report(store.settleNow(ticket, counted, now, this.#rules), ticket, outcome)
    return store.settle(ticket, counted, now, this.#rules).then((result) => this.#report(result, ticket, outcome))
  }

  #report (result: SettleResult, ticket: LoginTicket, outcome: Outcome): SettleReport {
    // The store's answer is a fresh object: completed in place rather than copied (this runs for every login).
    const report = result as SettleReport
    report.issueDevice = outcome === 'success' && result.settled && this.#devices !== undefined && !ticket.unnamed && (ticket.deviceId === undefined || ticket.renewDevice)
    return report
  }

  /**
   * The device token to set after a success (`SettleReport.issueDevice`):
   * names the ticket's user key, keeps the device id of a token being renewed.
   * Throws with `guard.device: false`.
   */
  deviceToken (ticket: LoginTicket, now: number): string {
    if (this.#devices === undefined) throw new TypeError('device tokens are off (guard.device: false)')
    return this.#devices.sign(ticket.user, now, ticket.deviceId)
  }

  /** Active blocks, soonest to end first (admin: `GET /blocks`). */
  async blocks (now: number, limit = 1000): Promise<BlockList> {
    return await this.#store.blocks(now, limit)
  }

  /**
   * Lifts the user's blocks (admin: `DELETE /blocks/users/:user`). The admin
   * does not know which route's `caseInsensitive` applies: the name as written
   * and lower-cased are both lifted.
   */
  async liftUser (name: string, now: number): Promise<BlockInfo[]> {
    const keys = new Set([this.userKeyOf(name, false), this.userKeyOf(name, true)])
    const lifted: BlockInfo[] = []
    for (const key of keys) lifted.push(...await this.#store.liftUser(key, now))
    return lifted
  }

  /**
   * Lifts the blocks of an address's network, or of every network in a CIDR
   * range (admin: `DELETE /blocks/networks/:cidr`; keys.ts `networksIn` says
   * what a range means). A range that cannot be lifted is `ADMIN_BAD_REQUEST`.
   */
  async liftNetwork (cidr: string, now: number): Promise<BlockInfo[]> {
    let networks: string[]
    try {
      networks = networksIn(cidr, this.#ipv6Prefix)
    } catch (err) {
      throw new errors.ADMIN_BAD_REQUEST((err as Error).message)
    }
    return await this.#store.liftNetworks(networks.map((n) => networkKey(this.#hash, n)), now)
  }

  /** Whether a device token's user key is this attempt's user, under the current secret or an earlier one. */
  #names (tokenKey: string, user: string, input: AttemptInput): boolean {
    if (sameKey(tokenKey, user)) return true
    const name = guardUser(input.user ?? '', input.caseInsensitive)
    return this.#hashes.slice(1).some((hash) => sameKey(tokenKey, userKey(hash, name)))
  }

  /** A user's keyed hash, as blocks name it (for an operator's lookup). */
  userKeyOf (name: string, caseInsensitive: boolean): string {
    return userKey(this.#hash, guardUser(name, caseInsensitive))
  }

  /** An address's network's keyed hash, as blocks name it. */
  networkKeyOf (address: string | undefined): string {
    return networkKey(this.#hash, clientNetwork(address, this.#ipv6Prefix))
  }

  /**
   * `networkKeyOf`, remembered for the latest addresses: logins come from
   * the same few networks again and again (an office, a NAT, a user
   * signing in again), and each key is an HMAC. Bounded: at
   * `NETWORK_KEYS_CACHED` addresses the memory starts afresh (an attacker
   * with many addresses only makes the gateway hash each one, as without it).
   */
  #networkKeyOfAddress (address: string | undefined): string {
    // Only what can be an address is remembered (45 characters: the longest
    // IPv6 text): under `proxy.trustProxy: true` the address is whatever a
    // client wrote in X-Forwarded-For, and 10,000 of those could be 16 KB each.
    if (address === undefined || address.length > MAX_ADDRESS_LENGTH) return this.networkKeyOf(address)
    let key = this.#networkKeys.get(address)
    if (key === undefined) {
      if (this.#networkKeys.size >= NETWORK_KEYS_CACHED) this.#networkKeys.clear()
      key = this.networkKeyOf(address)
      this.#networkKeys.set(address, key)
    }
    return key
  }

  async close (): Promise<void> {
    await this.#store.close()
  }
}

/** Most addresses whose network key is remembered (~150 B each). */
const NETWORK_KEYS_CACHED = 10_000
/** The longest address text remembered: an IPv6 address with an IPv4 tail. */
const MAX_ADDRESS_LENGTH = 45

/** The store's answer to a charge, as the proxy takes it. */
function decision (result: ChargeResult, deviceId: string | undefined, renewDevice: boolean, unnamed: boolean): AttemptDecision {
  const device = deviceId !== undefined
  if (!result.allowed) {
    return { allowed: false, retryAfter: Math.max(1, Math.ceil(result.retryAfterMs / 1000)), refusedBy: result.refusedBy, blocked: result.blocked, device }
  }
  // The store's ticket is a fresh object: completed in place (this runs for every login).
  const ticket = result.ticket as { -readonly [K in keyof LoginTicket]: LoginTicket[K] }
  ticket.renewDevice = renewDevice
  ticket.unnamed = unnamed
  if (deviceId !== undefined) ticket.deviceId = deviceId
  return { allowed: true, ticket, device }
}

function sameKey (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
