import t from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { APP_ROUTES, startHarness } from './helpers/harness.js'
import { AUDIT_FILE_BUFFER_BYTES } from '../src/ops/audit-file.js'
import type { GatewayEvent } from '../src/ops/events.js'

const TOKEN = 'audit-admin-token-0123456789abcd'

/** One sample of a Prometheus text exposition, or undefined. */
function sample (metrics: string, name: string): number | undefined {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

/**
 * The audit file is a FIFO whose reader reads nothing: the gateway can open
 * it, and its writes stall once the pipe's own buffer is full, as on a disk
 * that stopped keeping up. Then the reader drains it.
 */
t.test('an audit file that does not keep up: a bounded buffer, drops counted and logged once a minute, requests never wait', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sessioncap-audit-'))
  const fifo = join(dir, 'audit.fifo')
  execFileSync('mkfifo', [fifo])
  // Opened without waiting for a writer, and not read until the end.
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const h = await startHarness(t, { yaml: `${APP_ROUTES}audit: { file: ${fifo} }\nadmin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }\n` })
  const metrics = async (): Promise<string> => {
    const r = await fetch(`${h.gateway.adminAddress() ?? ''}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    return await r.text()
  }
  // Big lines (a long User-Agent), so the bound is passed in a few thousand events.
  const userAgent = 'x'.repeat(2000)
  const event = (n: number): GatewayEvent => ({ type: 'session_ended', user: `user${n}`, session: `s${n}`, reason: 'ended_by_admin', by: 'admin', client: { ip: '203.0.113.7', userAgent }, enforced: true })
  const warnings = (): number => h.logs.filter((l) => l.includes('audit trail: the file is not keeping up')).length

  let emitted = 0
  const reader = new Socket({ fd, readable: true, writable: false })
  reader.pause()
  try {
    t.equal((await h.device('browser').formLogin('alice')).status, 302, 'a login, written down')
    emitted++

    // Three times the bound, far more than the pipe takes.
    const total = Math.ceil(3 * AUDIT_FILE_BUFFER_BYTES / userAgent.length)
    for (let i = 0; i < total; i++) h.gateway.audit.emit(event(i))
    emitted += total
    const after = await metrics()
    const buffered = sample(after, 'sessioncap_audit_file_buffered_bytes') ?? -1
    t.ok(buffered > 0 && buffered <= AUDIT_FILE_BUFFER_BYTES, `the buffer stays within its bound (${buffered} of ${AUDIT_FILE_BUFFER_BYTES} bytes)`)
    const dropped = sample(after, 'sessioncap_audit_dropped_total{sink="file"}') ?? 0
    t.ok(dropped > total / 2, `the events beyond it were dropped and counted (${dropped} of ${total})`)
    t.equal(warnings(), 1, 'and logged once')

    const answered = await h.device('browser').formLogin('bob')
    t.equal(answered.status, 302, 'a login is answered while the file is stuck')
    emitted++
    for (let i = 0; i < 100; i++) h.gateway.audit.emit(event(total + i))
    emitted += 100
    t.equal(warnings(), 1, 'still one warning within the minute')
    h.clock.advance(61_000)
    h.gateway.audit.emit(event(total + 100))
    emitted++
    t.equal(warnings(), 2, 'a second one a minute later')
  } finally {
    // The reader drains the pipe; the gateway writes out what it kept and closes it.
    reader.resume()
    const chunks: Buffer[] = []
    reader.on('data', (c: Buffer) => { chunks.push(c) })
    const ended = new Promise<void>((resolve) => { reader.on('close', () => { resolve() }) })
    await h.gateway.audit.close()
    await ended
    const text = Buffer.concat(chunks).toString('utf8')
    const lines = text.split('\n').filter(Boolean)
    t.ok(text.endsWith('\n'), 'the file ends with a whole line')
    t.ok(lines.every((l) => { try { JSON.parse(l); return true } catch { return false } }), 'every line is a whole event')
    const dropped = sample(await metrics(), 'sessioncap_audit_dropped_total{sink="file"}') ?? 0
    t.equal(lines.length + dropped, emitted, 'every event was either written or counted as dropped')
    t.match(JSON.parse(lines[0] ?? '{}'), { type: 'login', user: 'alice' }, 'in order, the first first')
    reader.destroy()
    try { closeSync(fd) } catch { /* closed with the socket */ }
  }
})
