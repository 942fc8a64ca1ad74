import { END_REASONS, type EndedBy, type EndReason } from '../domain/session.js'
import type { Signer } from './signer.js'

const ENDED_NOTE = 'ended'
/** A `next` longer than this is not followed (it would make the chooser's URL unwieldy). */
const MAX_NEXT = 2048

/** What the signed-out page is told about why: signed, so nobody can make the page say something else. */
export interface EndedNote {
  reason: EndReason
  by?: EndedBy
}

export interface PageLinks {
  readonly prefix: string
  /** Where a browser goes when its session was ended: the signed-out page with a signed note, or `ended.redirect` with the reason. */
  ended (reason: EndReason, by: EndedBy | undefined): string
  /** The chooser, coming back to `next` (a path of this site) once the user has chosen. */
  chooser (next: string | undefined): string
  /** Reads the signed-out page's note; undefined if absent or not signed by this gateway (the page then says only "signed out"). */
  readEndedNote (token: unknown): EndedNote | undefined
}

export function createPageLinks (prefix: string, redirect: string | undefined, signer: Signer): PageLinks {
  return {
    prefix,
    ended (reason, by) {
      if (redirect !== undefined) return withReason(redirect, reason)
      const note = by === undefined ? [reason] : [reason, by.at, by.device ?? '', by.ip ?? '']
      return `${prefix}ended?n=${signer.sign(ENDED_NOTE, JSON.stringify(note))}`
    },
    chooser (next) {
      const safe = safeNext(next)
      return safe === undefined ? `${prefix}choose` : `${prefix}choose?next=${encodeURIComponent(safe)}`
    },
    readEndedNote (token) {
      if (typeof token !== 'string') return undefined
      const payload = signer.verify(ENDED_NOTE, token)
      if (payload === undefined) return undefined
      try {
        const [reason, at, device, ip] = JSON.parse(payload) as unknown[]
        if (!END_REASONS.includes(reason as EndReason)) return undefined
        const note: EndedNote = { reason: reason as EndReason }
        if (typeof at === 'number') {
          note.by = { at }
          if (typeof device === 'string' && device !== '') note.by.device = device
          if (typeof ip === 'string' && ip !== '') note.by.ip = ip
        }
        return note
      } catch {
        return undefined
      }
    }
  }
}

/**
 * `ended.redirect` with the reason: in place of `{reason}` if the URL has
 * one, else as a `reason` query parameter.
 */
export function withReason (redirect: string, reason: EndReason): string {
  if (redirect.includes('{reason}')) return redirect.replaceAll('{reason}', reason)
  const hash = redirect.indexOf('#')
  const [base, fragment] = hash === -1 ? [redirect, ''] : [redirect.slice(0, hash), redirect.slice(hash)]
  return `${base}${base.includes('?') ? '&' : '?'}reason=${reason}${fragment}`
}

/**
 * A `next` the pages may send a browser to: a path of this site only
 * (`/…`, not `//host` or `/\host`, which browsers read as another site), so
 * the pages cannot be used to send anyone elsewhere.
 */
export function safeNext (next: unknown): string | undefined {
  if (typeof next !== 'string' || next.length > MAX_NEXT || !next.startsWith('/')) return undefined
  // Only printable ASCII: anything else cannot go into a Location header as it is.
  if (next.startsWith('//') || next.startsWith('/\\') || /[^\x21-\x7e]/.test(next)) return undefined
  return next
}
