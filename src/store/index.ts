import type { Config } from '../config/schema.js'
import { MemoryStore } from './memory-store.js'
import { RedisStore } from './redis/redis-store.js'
import { SnapshotWriter } from './snapshot.js'
import type { SessionStore, StoreEvents } from './store.js'

export type { SessionStore, StoreEvents } from './store.js'

export interface OpenedStore {
  store: SessionStore
  /** Stops background work (snapshots) and saves what must be saved; then the store is closed. */
  shutdown: () => Promise<void>
}

/** Opens the store the configuration names. */
export async function openStore (config: Config, events: StoreEvents, now: () => number = Date.now): Promise<OpenedStore> {
  const timeouts = { idleTimeout: config.sessions.idleTimeout, maxAge: config.sessions.maxAge }
  switch (config.store.type) {
    case 'memory': {
      const store = new MemoryStore({ maxSessions: config.store.maxSessions, maxEnded: config.store.maxEnded, timeouts, events })
      if (config.store.snapshot === undefined) return { store, shutdown: async () => { await store.close() } }
      const writer = new SnapshotWriter(store, config.store.snapshot, config.store.snapshotInterval, events, now)
      await writer.load()
      writer.start()
      return {
        store,
        shutdown: async () => {
          await writer.stop()
          await store.close()
        }
      }
    }
    case 'redis': {
      const store = await RedisStore.connect({ store: config.store, timeouts, events, now })
      return { store, shutdown: async () => { await store.close() } }
    }
    default:
      // The schema admits no other type; this keeps the switch honest when one is added.
      throw new Error(`unknown session store type: ${String((config.store as { type: unknown }).type)}`)
  }
}
