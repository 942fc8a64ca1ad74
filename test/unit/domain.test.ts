import t from 'tap'
import { decide } from '../../src/domain/policy.js'
import { compileLimits } from '../../src/domain/limits.js'
import { normalizeUser } from '../../src/domain/user.js'
import type { SessionRecord } from '../../src/domain/session.js'

const s = (id: string, createdAt: number, lastUsedAt: number): SessionRecord => ({ id, user: 'u', createdAt, lastUsedAt })

t.test('decide: under the limit, unlimited, and each policy', async (t) => {
  const sessions = [s('a', 1, 50), s('b', 2, 10), s('c', 3, 30)]
  t.same(decide(sessions, 4, 'evict-idlest'), { admit: true, end: [] })
  t.same(decide(sessions, 0, 'reject-new'), { admit: true, end: [] })
  t.same(decide(sessions, 3, 'reject-new'), { admit: false })
  t.same(decide(sessions, 3, 'evict-idlest'), { admit: true, end: [sessions[1]] })
  t.same(decide(sessions, 3, 'evict-oldest'), { admit: true, end: [sessions[0]] })
  t.same(decide(sessions, 1, 'evict-idlest').admit && decide(sessions, 1, 'evict-idlest'), { admit: true, end: [sessions[1], sessions[2], sessions[0]] })
  t.same(decide([s('z', 5, 5), s('y', 5, 5)], 1, 'evict-idlest'), { admit: true, end: [s('y', 5, 5), s('z', 5, 5)] }, 'ties broken by id: every store decides alike')
})

t.test('compileLimits: first matching override wins; all its conditions must hold', async (t) => {
  const limitFor = compileLimits({
    limit: 2,
    overrides: [
      { users: ['OpsBot'], limit: 0 },
      { users: ['carol', 'dave'], match: '^c', limit: 5 },
      { match: '^contractor-', limit: 1 }
    ]
  })
  t.equal(limitFor('OpsBot'), 0)
  t.equal(limitFor('opsbot'), 0, 'a lowercased name still matches')
  t.equal(limitFor('carol'), 5)
  t.equal(limitFor('dave'), 2, 'listed, but the regex does not match')
  t.equal(limitFor('contractor-x'), 1)
  t.equal(limitFor('someone'), 2)
  t.equal(compileLimits({ limit: 3, overrides: [] })('x'), 3)
})

t.test('normalizeUser', async (t) => {
  t.equal(normalizeUser('  Alice ', false), 'Alice')
  t.equal(normalizeUser('  Alice ', true), 'alice')
  t.equal(normalizeUser(42, false), '42')
  // Ruby's strip drops NUL (Devise), Python's \x1c-\x1f and U+0085 (Django): padding is no new account.
  t.equal(normalizeUser('bob@example.com\u0000\u0000', false), 'bob@example.com')
  t.equal(normalizeUser('\u001c\u001dbob\u001e\u0085', false), 'bob')
  t.equal(normalizeUser('b\u0000o\u007fb', false), 'bob')
  t.equal(normalizeUser('\u0000\u0001', false), undefined, 'only controls: nobody')
  t.equal(normalizeUser('   ', false), undefined)
  t.equal(normalizeUser(null, false), undefined)
  t.equal(normalizeUser('x'.repeat(513), false), undefined)
})
