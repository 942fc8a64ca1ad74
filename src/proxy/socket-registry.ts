import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { SessionId } from '../domain/session.js'

/** The part of a `ws` WebSocket the registry uses; `_socket` is ws's own (long-standing) name for its TCP socket. */
type ClientSocket = Pick<WebSocket, 'close' | 'once' | 'terminate'> & { _socket?: Socket }

const CLOSE_POLICY_VIOLATION = 1008
const FORCE_AFTER_MS = 2_000
/** Empty sets kept at least, before a sweep (see `#bySession`). */
const EMPTY_KEPT = 1_024

/**
 * The open WebSocket connections of each session. An upgrade is checked like
 * any request when it opens, but it may stay open for hours: when its session
 * ends later (signed in elsewhere, logged out), the socket must be closed by
 * the gateway, or the app keeps talking to an ended session.
 *
 * Sockets are filed under the session's key, which a rotation of its cookie
 * does not change. The upgrade request's check (which knows the session) and
 * the connection (which http-proxy creates afterwards) meet through the TCP
 * socket.
 */
export class SocketRegistry {
  readonly #pending = new WeakMap<Socket, readonly SessionId[]>()
  /**
   * A session whose last socket closed keeps its empty set until many are
   * empty (`#sweep`): an app that opens a socket per page, or reconnects
   * after every idle timeout, would otherwise drop its key and set it again
   * each time, and in a large Map that costs more each time (V8 keeps a
   * deleted entry in its key's bucket chain until the table is rebuilt).
   */
  readonly #bySession = new Map<SessionId, Set<ClientSocket>>()
  /** Empty sets in `#bySession`. */
  #empty = 0

  /** An upgrade request carrying these sessions passed the check. */
  noteUpgrade (raw: Socket, sessions: readonly SessionId[]): void {
    if (sessions.length > 0) this.#pending.set(raw, sessions)
  }

  /** http-proxy opened the client side of a proxied WebSocket. */
  connected (ws: ClientSocket): void {
    const raw = ws._socket
    const sessions = raw === undefined ? undefined : this.#pending.get(raw)
    if (sessions === undefined) return
    for (const id of sessions) {
      let set = this.#bySession.get(id)
      if (set === undefined) this.#bySession.set(id, set = new Set())
      else if (set.size === 0) this.#empty--
      set.add(ws)
    }
    ws.once('close', () => { for (const id of sessions) this.#remove(id, ws) })
  }

  /** These sessions ended: close their sockets (1008), and cut them if the client does not answer. */
  closeSessions (ids: readonly SessionId[]): number {
    let closed = 0
    for (const id of ids) {
      const set = this.#bySession.get(id)
      if (set === undefined) continue
      this.#bySession.delete(id)
      if (set.size === 0) this.#empty--
      for (const ws of set) {
        ws.close(CLOSE_POLICY_VIOLATION, 'session ended')
        setTimeout(() => { ws.terminate() }, FORCE_AFTER_MS).unref()
        closed++
      }
    }
    return closed
  }

  get openSessions (): number {
    return this.#bySession.size - this.#empty
  }

  #remove (id: SessionId, ws: ClientSocket): void {
    const set = this.#bySession.get(id)
    if (set === undefined || !set.delete(ws) || set.size > 0) return
    // Bounded: swept once empty sets are more than half of all (and over 1,024).
    if (++this.#empty > Math.max(EMPTY_KEPT, this.#bySession.size / 2)) this.#sweep()
  }

  #sweep (): void {
    for (const [id, set] of this.#bySession) if (set.size === 0) this.#bySession.delete(id)
    this.#empty = 0
  }
}
