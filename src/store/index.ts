import type { Config } from '../config/schema.js'
import { MemoryStore } from './memory-store.js'
import type { SessionStore, StoreEvents } from './store.js'

export type { SessionStore, StoreEvents } from './store.js'

/** Picks the store the configuration names. */
export function createStore (config: Config, events: StoreEvents): SessionStore {
  const timeouts = { idleTimeout: config.sessions.idleTimeout, maxAge: config.sessions.maxAge }
  switch (config.store.type) {
    case 'memory':
      return new MemoryStore({ maxSessions: config.store.maxSessions, timeouts, events })
    default:
      // The schema admits no other type; this keeps the switch honest when one is added.
      throw new Error(`unknown session store type: ${String((config.store as { type: unknown }).type)}`)
  }
}
