import t from 'tap'
import { IdentificationWindow, MAX_UNIDENTIFIED_REQUESTS, Windows, type Presentation } from '../../src/proxy/identification.js'

const presentation = (cookie: string): Presentation => ({ context: { cookieHeader: `sid=${cookie}`, headers: {} }, meta: {}, client: undefined })

t.test('a window takes one request at a time, at most MAX_UNIDENTIFIED_REQUESTS in all', async (t) => {
  const w = new IdentificationWindow('login: auto (whoami)', presentation('a'))
  t.ok(w.takeTurn(), 'the first request goes')
  t.notOk(w.takeTurn(), 'not a second one while it is at the app')
  let woke = false
  const waiting = w.waitTurn(60_000).then(() => { woke = true })
  w.endTurn()
  await waiting
  t.ok(woke, 'a waiting request wakes when the turn ends')
  for (let i = 1; i < MAX_UNIDENTIFIED_REQUESTS; i++) {
    t.ok(w.takeTurn())
    w.endTurn()
  }
  t.notOk(w.takeTurn(), 'past the window: no more unidentified requests')
})

t.test('at the bound the oldest window is handed over, once, when its last value leaves', async (t) => {
  const overflowed: IdentificationWindow[] = []
  const windows = new Windows((w) => { overflowed.push(w) }, 3)
  const first = new IdentificationWindow('login: auto (whoami)', presentation('a'))
  windows.add(first, 'a1')
  windows.add(first, 'a2')
  const second = new IdentificationWindow('unknownSessions: adopt', presentation('b'))
  windows.add(second, 'b1')
  t.same(first.ids, ['a1', 'a2'], 'a window knows its values')
  windows.add(second, 'b2')
  t.same(overflowed, [], 'one value of the first window left; the other still holds it')
  windows.add(second, 'b3')
  t.same(overflowed, [first], 'its last value left: handed over once')
  t.equal(windows.get('b2'), second)

  windows.unasked(first)
  t.equal(windows.get('a1'), undefined, 'without a presentation, nothing is made up')
  const again = windows.get('a1', () => presentation('a1'))
  t.ok(again !== undefined && again !== first, 'a value whose window left unasked comes back in a new window')
  t.notOk(again?.takeTurn(), 'which asks at once: no request goes unidentified')
  t.equal(windows.get('a1', () => presentation('a1')), again, 'and only once')
})

t.test('closing a window takes its values out', async (t) => {
  const windows = new Windows(() => { t.fail('nothing is handed over') }, 10)
  const w = new IdentificationWindow('login: auto (whoami)', presentation('c'))
  windows.add(w, 'c1')
  windows.add(w, 'c2')
  windows.close(w)
  t.notOk(windows.has('c1') || windows.has('c2'))
  t.equal(windows.size, 0)
})
