import type { Server as HttpServer } from 'node:http'
import type { Http2Session } from 'node:http2'
import type { Server, Socket } from 'node:net'

/** What a graceful stop needs of a listener's open connections, whatever the protocol. */
export interface ConnectionControl {
  /**
   * Once the listener has stopped accepting: closes the HTTP/1 connections
   * that carry no request now. A listener still accepting (the admin API,
   * whose probes answer while the proxied port drains) keeps them. HTTP/2
   * sessions are asked at once to finish their streams and close, and so is
   * every session made after.
   */
  closeIdle (): void
  /** Closes every connection now, requests in flight and WebSockets included. */
  closeAll (): void
}

/**
 * HTTP/1 servers (plain or TLS) track their connections themselves
 * (`closeIdleConnections`, `closeAllConnections`). Node's HTTP/2 server does
 * not: before Node 24 its `close()` waits for every session to end, and an
 * idle browser keeps one open until the session timeout (72 s). So its
 * sessions and sockets are tracked here, from the moment it is built (call
 * this before it listens), and `Gateway.close` asks its sessions to close.
 *
 * Closing an idle HTTP/2 session is `session.close()`: a GOAWAY (RFC 9113
 * §6.8) that lets the streams under way finish and refuses new ones, so the
 * client opens its next request elsewhere — the HTTP/2 counterpart of
 * `Connection: close`. It can be called again and again (it returns at once
 * once the session is closing).
 */
export function connectionControl (server: Server): ConnectionControl {
  const http1 = server as Partial<Pick<HttpServer, 'closeIdleConnections' | 'closeAllConnections'>>
  if (typeof http1.closeAllConnections === 'function' && typeof http1.closeIdleConnections === 'function') {
    // Node stops tracking a connection once it is upgraded (a WebSocket), so
    // closeAllConnections leaves it open; ws would then wait up to 30 s for a
    // client that never answers its close frame, past shutdownTimeout.
    const upgraded = new Set<Socket>()
    server.on('upgrade', (_request: unknown, socket: Socket) => {
      upgraded.add(socket)
      socket.once('close', () => { upgraded.delete(socket) })
    })
    return {
      closeIdle: () => { if (!server.listening) http1.closeIdleConnections?.() },
      closeAll: () => {
        http1.closeAllConnections?.()
        for (const socket of upgraded) socket.destroy()
      }
    }
  }
  const sessions = new Set<Http2Session>()
  const sockets = new Set<Socket>()
  let closing = false
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => { sessions.delete(session) })
    // A connection accepted just before the listener stopped.
    if (closing) session.close()
  })
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket)
    socket.once('close', () => { sockets.delete(socket) })
  })
  return {
    closeIdle: () => {
      closing = true
      for (const session of sessions) session.close()
      // The HTTP/1.1 connections the server answers beside HTTP/2 (ALPN): Node tracks those.
      if (!server.listening) http1.closeIdleConnections?.()
    },
    closeAll: () => {
      // Every TLS socket: HTTP/2 sessions, HTTP/1.1 connections, upgraded WebSockets.
      for (const socket of sockets) socket.destroy()
    }
  }
}
