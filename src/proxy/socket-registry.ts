import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'
import type { SessionId } from '../domain/session.js'

/** The part of a `ws` WebSocket the registry uses; `_socket` is ws's own (long-standing) name for its TCP socket. */
type ClientSocket = Pick<WebSocket, 'close' | 'once' | 'terminate'> & { _socket?: Socket }

const CLOSE_POLICY_VIOLATION = 1008
const FORCE_AFTER_MS = 2_000

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
  readonly #bySession = new Map<SessionId, Set<ClientSocket>>()

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
      for (const ws of set) {
        ws.close(CLOSE_POLICY_VIOLATION, 'session ended')
        setTimeout(() => { ws.terminate() }, FORCE_AFTER_MS).unref()
        closed++
      }
    }
    return closed
  }

  get openSessions (): number {
    return this.#bySession.size
  }

  #remove (id: SessionId, ws: ClientSocket): void {
    const set = this.#bySession.get(id)
    if (set === undefined) return
    set.delete(ws)
    if (set.size === 0) this.#bySession.delete(id)
  }
}
