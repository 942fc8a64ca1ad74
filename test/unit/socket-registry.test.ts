import t from 'tap'
import { EventEmitter } from 'node:events'
import type { Socket } from 'node:net'
import { SocketRegistry } from '../../src/proxy/socket-registry.js'

/** The part of a ws WebSocket the registry uses: a close that says so, and its TCP socket. */
class FakeWebSocket extends EventEmitter {
  readonly _socket = {} as Socket
  closedWith: number | undefined
  close (code?: number): void {
    this.closedWith = code
    this.emit('close')
  }

  terminate (): void {}
}

function open (registry: SocketRegistry, ...sessions: string[]): FakeWebSocket {
  const ws = new FakeWebSocket()
  registry.noteUpgrade(ws._socket, sessions)
  // ws's `once` is typed with its own event overloads; the registry only listens for 'close'.
  registry.connected(ws as unknown as Parameters<SocketRegistry['connected']>[0])
  return ws
}

t.test('a session that opens and closes its only socket again and again is counted right, and its socket still closed when it ends', async (t) => {
  const registry = new SocketRegistry()
  const others = Array.from({ length: 100 }, (_, i) => open(registry, `other${i}`))
  const counts = new Set<string>()
  for (let i = 0; i < 5_000; i++) {
    const ws = open(registry, 'busy')
    const opened = registry.openSessions
    ws.emit('close')
    counts.add(`${opened}/${registry.openSessions}`)
  }
  t.same([...counts], ['101/100'], 'every time: counted while open, not once its socket closed')
  const last = open(registry, 'busy')
  t.equal(registry.closeSessions(['busy']), 1, 'its socket is closed when it ends')
  t.equal(last.closedWith, 1008)
  t.equal(registry.openSessions, 100)
  t.equal(registry.closeSessions(others.map((_, i) => `other${i}`)), 100)
  t.equal(registry.openSessions, 0)
})

t.test('many sessions whose sockets closed are swept, and the count stays right across the sweep', async (t) => {
  const registry = new SocketRegistry()
  const kept = open(registry, 'kept')
  for (let i = 0; i < 5_000; i++) open(registry, `s${i}`).emit('close')
  t.equal(registry.openSessions, 1, 'only the session with an open socket')
  const again = open(registry, 's4999')
  t.equal(registry.openSessions, 2)
  t.equal(registry.closeSessions(['s4999', 's0', 'kept']), 2, 'a swept session has nothing to close')
  t.equal(again.closedWith, 1008)
  t.equal(kept.closedWith, 1008)
  t.equal(registry.openSessions, 0)
})
