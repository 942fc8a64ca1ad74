import type { GuardStore } from '../../src/guard/guard.js'

/**
 * Two gateways on one Redis: each call is made by the next of two stores, so
 * nothing one of them could keep in its own memory can make the contract pass.
 */
export function alternating (stores: GuardStore[]): GuardStore {
  let turn = 0
  const next = (): GuardStore => stores[turn++ % stores.length] as GuardStore
  return {
    kind: 'redis-pair',
    charge: async (...a) => await next().charge(...a),
    settle: async (...a) => await next().settle(...a),
    blocks: async (...a) => await next().blocks(...a),
    liftUser: async (...a) => await next().liftUser(...a),
    liftNetworks: async (...a) => await next().liftNetworks(...a),
    ping: async () => { await next().ping() },
    close: async () => {}
  }
}
