import { createHash } from 'node:crypto'
import type { SessionId } from '../../domain/session.js'

/**
 * The Redis keys of the store. Everything a login decides is about one user,
 * so a user's keys share one hash tag and the admission script (which must
 * touch them together, atomically) runs on Redis Cluster. A session id's own
 * key only points at its user, so a request's cookie can be looked up without
 * knowing whose it is.
 *
 *   {prefix}{u:TAG}:live        HASH  session key → "createdAt,lastUsedAt"   live sessions of the user
 *   {prefix}{u:TAG}:ended       HASH  session key → "endedAt,reason"         ended sessions (refused until maxAge)
 *   {prefix}{u:TAG}:endedz      ZSET  session key by endedAt                 index to prune expired ended records
 *   {prefix}{u:TAG}:alias       HASH  later cookie id → "key,at"             cookies of rotated sessions
 *   {prefix}{u:TAG}:aliasz      ZSET  later cookie id by at                  index to prune expired aliases
 *   {prefix}{u:TAG}:meta        HASH  session key → "device,ip"              what the user is shown about it
 *   {prefix}{u:TAG}:al:KEY      LIST  later cookie ids of one session         bounds them per session
 *   {prefix}{s:ID}              STRING "u,<user>" | "e,<endedAt>,<reason>"   a cookie id's user (or: ended, user unknown)
 *
 * TAG is a hash of the user name (names may hold braces, and may be long).
 * Every key expires by itself, `maxAge` plus a margin after its last write.
 */
export interface UserKeys {
  live: string
  ended: string
  endedz: string
  alias: string
  aliasz: string
  meta: string
}

export function userTag (user: string): string {
  return createHash('sha256').update(user).digest('base64url').slice(0, 16)
}

export function userKeys (prefix: string, user: string): UserKeys {
  const base = `${prefix}{u:${userTag(user)}}`
  return { live: `${base}:live`, ended: `${base}:ended`, endedz: `${base}:endedz`, alias: `${base}:alias`, aliasz: `${base}:aliasz`, meta: `${base}:meta` }
}

export function aliasListKey (prefix: string, user: string, key: SessionId): string {
  return `${prefix}{u:${userTag(user)}}:al:${key}`
}

export function pointerKey (prefix: string, id: SessionId): string {
  return `${prefix}{s:${id}}`
}

/** The pub/sub channel on which every gateway hears of sessions ended elsewhere. */
export function endedChannel (prefix: string): string {
  return `${prefix}ended`
}

/** One gateway's own heartbeat channel (heard on the same connection as the endings). */
export function beatChannel (prefix: string, gateway: string): string {
  return `${prefix}beat:${gateway}`
}

export type Pointer =
  | { kind: 'user', user: string }
  | { kind: 'ended', endedAt: number, reason: string }

export function encodePointer (p: Pointer): string {
  return p.kind === 'user' ? `u,${p.user}` : `e,${p.endedAt},${p.reason}`
}

export function decodePointer (value: string | null): Pointer | undefined {
  if (value === null) return undefined
  if (value.startsWith('u,')) return { kind: 'user', user: value.slice(2) }
  const m = /^e,(\d+),(.+)$/.exec(value)
  return m === null ? undefined : { kind: 'ended', endedAt: Number(m[1]), reason: m[2] as string }
}
