import t from 'tap'
import { MemoryStore } from '../src/store/memory-store.js'
import type { SessionState } from '../src/store/store.js'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { errors } from '../src/errors.js'

/** A real memory store that can be made to fail, as a broken store would. */
class FailingStore extends MemoryStore {
  failing = false
  // A failing store answers nothing from memory either: the gateway must ask, and hear the failure.
  override checkCached (id: string, now: number): SessionState | undefined {
    return this.failing ? undefined : super.checkCached(id, now)
  }

  override async check (id: string, now: number): Promise<SessionState> {
    if (this.failing) throw new errors.STORE_UNAVAILABLE({ cause: new Error('store is down') })
    return await super.check(id, now)
  }

  override async admit (...args: Parameters<MemoryStore['admit']>): ReturnType<MemoryStore['admit']> {
    if (this.failing) throw new errors.STORE_UNAVAILABLE({ cause: new Error('store is down') })
    return await super.admit(...args)
  }
}

t.test('fail-closed: when the store fails, a request with a session gets 503, and so does a login; the rest is proxied', async (t) => {
  const store = new FailingStore({ maxSessions: 100, timeouts: { idleTimeout: 7_200_000, maxAge: 86_400_000 } })
  const h = await startHarness(t, { store, yaml: `${APP_ROUTES}store: { onError: fail-closed }\n` })
  const laptop = h.device()
  await laptop.formLogin('alice')
  store.failing = true

  const before = h.app.requests
  const r = await laptop.send('/api/me')
  t.equal(r.status, 503)
  t.equal(r.text, 'session store unavailable (SESSIONCAP_ERR_STORE_UNAVAILABLE)\n')
  t.equal(h.app.requests, before, 'a session the gateway cannot vouch for does not reach the app')

  const anonymous = await h.device().send('/status/200')
  t.equal(anonymous.status, 200, 'requests without a session cookie are unaffected')

  const bob = h.device()
  const login = await bob.formLogin('bob')
  t.equal(login.status, 503, 'a login that cannot be recorded is not let through')
  t.equal(bob.sessionCookie, undefined, 'its cookie never reaches the client')

  store.failing = false
  t.equal(await laptop.whoami(), 'alice', 'recovers as soon as the store does')
})

t.test('fail-open: when the store fails, requests and logins go through', async (t) => {
  const store = new FailingStore({ maxSessions: 100, timeouts: { idleTimeout: 7_200_000, maxAge: 86_400_000 } })
  const h = await startHarness(t, { store })
  const laptop = h.device()
  await laptop.formLogin('alice')
  store.failing = true
  t.equal(await laptop.whoami(), 'alice', 'the session passes unchecked')
  const bob = h.device()
  t.equal((await bob.formLogin('bob')).status, 302, 'the login is delivered (unrecorded)')
  t.equal(await bob.whoami(), 'bob')
  store.failing = false
  t.equal(await laptop.whoami(), 'alice')
})
