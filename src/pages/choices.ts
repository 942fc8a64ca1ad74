import type { EndedBy, SessionId, SessionRecord } from '../domain/session.js'
import type { SessionStore } from '../store/store.js'
import { handleOf } from './views.js'

export interface EndChoice {
  /** The sessions the user picked (their handles), or every other one. */
  handles: ReadonlySet<string> | 'all-others'
  /** The session making the choice: never ended by it. */
  current: SessionId
  by: EndedBy
  now: number
}

export interface EndOutcome {
  ended: SessionRecord[]
  /** Handles that named none of the user's other sessions (already ended, or never theirs): nothing was done for them. */
  unmatched: number
}

/**
 * Ends sessions a user picked on a page. Only sessions of that user can be
 * picked: a handle is looked up among their own sessions, so a form that
 * names another user's session (or the current one) ends nothing.
 */
export async function endChosen (store: Pick<SessionStore, 'sessionsOf' | 'end'>, owner: string, choice: EndChoice): Promise<EndOutcome> {
  const mine = (await store.sessionsOf(owner, choice.now)).filter((r) => r.id !== choice.current)
  const picked = choice.handles === 'all-others' ? mine : mine.filter((r) => (choice.handles as ReadonlySet<string>).has(handleOf(r.id)))
  const unmatched = choice.handles === 'all-others' ? 0 : choice.handles.size - picked.length
  if (picked.length === 0) return { ended: [], unmatched }
  const ended = await store.end(picked.map((r) => r.id), 'ended_by_user', choice.now, choice.by)
  return { ended, unmatched }
}
