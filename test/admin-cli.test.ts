import t, { type Test } from 'tap'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import type { Device } from './helpers/client.js'
import { loadConfigText } from '../src/config/load.js'
import { cli } from './helpers/cli.js'
import { freePort } from './helpers/redis.js'

// The admin commands as operators run them: the compiled bin, in its own
// process, against a gateway's real admin listener (npm test builds first).
const TOKEN = 'test-admin-token-0123456789abcdef'

/** A gateway with its admin API on a free loopback port; limits high enough that logins pile up. */
async function gateway (t: Test): Promise<Harness & { admin: string[] }> {
  const h = await startHarness(t, {
    yaml: `${APP_ROUTES}limit: 5\npolicy: evict-oldest\nadmin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }\n`
  })
  const url = h.gateway.adminAddress()
  if (url === undefined) throw new Error('the admin API did not start')
  return { ...h, admin: ['--admin-url', url, '--token', TOKEN] }
}

/** Signs `user` in on `n` devices, a second apart (so "oldest" and "newest" are well defined). */
async function signIn (h: Harness, user: string, n: number): Promise<Device[]> {
  const devices: Device[] = []
  for (let i = 0; i < n; i++) {
    const d = h.device()
    const login = await d.apiLogin(user)
    if (login.status !== 200) throw new Error(`login of ${user} answered ${login.status}`)
    devices.push(d)
    h.clock.advance(1000)
  }
  return devices
}

async function adminGet (h: Harness, path: string): Promise<unknown> {
  const res = await fetch(`${h.gateway.adminAddress() ?? ''}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
  return await res.json()
}

interface Listed { scopes: Array<{ sessions: Array<{ id: string, signedInAt: string }> }> }
const idsOf = (listed: unknown): string[] => (listed as Listed).scopes.flatMap((s) => s.sessions.map((x) => x.id))


t.test('sessions list: a table of the user\'s sessions, and --json as the API answers', async (t) => {
  const h = await gateway(t)
  await signIn(h, 'alice', 2)
  await signIn(h, 'bob', 1)

  const r = await cli(['sessions', 'list', '--user', 'alice', ...h.admin])
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  t.equal(lines[0], 'alice: 2 sessions, 2 counting, limit 5')
  t.match(lines[1], /^SESSION +USER +SCOPE +STATE +SIGNED IN +LAST USED +DEVICE +IP$/)
  t.equal(lines.length, 4, 'a header and two rows')
  const ids = idsOf(await adminGet(h, '/users/alice/sessions'))
  t.equal(ids.length, 2)
  for (const [i, id] of ids.entries()) {
    t.match(lines[2 + i], new RegExp(`^${id.slice(0, 12)} +alice +default +counting +2026-01-01 00:00:0${i}Z +2026-01-01 00:00:0${i}Z `))
  }
  // The columns line up: every row's USER starts where the header's does.
  const userColumn = (lines[1] as string).indexOf('USER')
  for (const row of lines.slice(2)) t.equal(row.indexOf('alice'), userColumn)

  const json = await cli(['sessions', 'list', '--user', 'alice', '--json', ...h.admin])
  t.equal(json.code, 0)
  t.same(JSON.parse(json.stdout), await adminGet(h, '/users/alice/sessions'))

  const nobody = await cli(['sessions', 'list', '--user', 'nobody', ...h.admin])
  t.match(nobody, { code: 0, stdout: 'nobody has no sessions.\n' })
})

t.test('sessions list without --user: everyone\'s sessions, a page of users at a time', async (t) => {
  const h = await gateway(t)
  await signIn(h, 'alice', 2)
  await signIn(h, 'bob', 1)
  const r = await cli(['sessions', 'list', ...h.admin])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^USER +SCOPE +SESSIONS +COUNTING +LIMIT\nalice +default +2 +2 +5\nbob +default +1 +1 +5\n/)
  t.equal(r.stdout.split('\n').filter((l) => / (alice|bob) +default +counting /.test(l)).length, 3, 'and the three sessions')
  t.notMatch(r.stdout, /more:/, 'one page')
  const page = await adminGet(h, '/sessions?offset=0&limit=1') as { users: Array<{ user: string }>, next: number | null }
  t.same(page.users.map((u) => u.user), ['alice'])
  t.equal(page.next, 1)
  const last = await adminGet(h, '/sessions?offset=1&limit=1') as { users: Array<{ user: string }>, next: number | null }
  t.same(last.users.map((u) => u.user), ['bob'])
  const after = await cli(['sessions', 'list', '--offset', '2', ...h.admin])
  t.match(after, { code: 0, stdout: 'No users from 2 on.\n' })
  const both = await cli(['sessions', 'list', '--user', 'alice', '--offset', '1', ...h.admin])
  t.equal(both.code, 2, '--offset goes with everyone, not --user')
})

t.test('sessions list: user names are sent URL-encoded', async (t) => {
  const h = await gateway(t)
  // The JSON login route lower-cases the user (caseInsensitive).
  await signIn(h, 'Ann Lee/Ops?x=1#y@example.com', 1)
  const r = await cli(['sessions', 'list', '--user', 'ann lee/ops?x=1#y@example.com', ...h.admin])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^ann lee\/ops\?x=1#y@example\.com: 1 session, 1 counting, limit 5\n/)
})

t.test('sessions end --user --keep 1: ends exactly the older one; it is refused, the kept one works', async (t) => {
  const h = await gateway(t)
  const [older, newer] = await signIn(h, 'alice', 2) as [Device, Device]
  const [olderId] = idsOf(await adminGet(h, '/users/alice/sessions'))

  const r = await cli(['sessions', 'end', '--user', 'alice', '--keep', '1', ...h.admin])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^Ended 1 session of alice \(kept the newest 1 of each scope\):\nSESSION .*\n(\S+) +alice .*\n$/)
  t.match(r.stdout, (olderId as string).slice(0, 12))
  t.equal(await older.whoami(), 401, 'the ended device is refused')
  t.equal(await newer.whoami(), 'alice', 'the kept device works')
  t.equal(idsOf(await adminGet(h, '/users/alice/sessions')).length, 1)

  // Nothing more to end: the API's 404 is exit 1, with its message and code.
  const again = await cli(['sessions', 'end', '--user', 'alice', '--keep', '1', ...h.admin])
  t.equal(again.code, 1)
  t.match(again.stderr, /^sessioncap: alice has no session beyond the newest 1 to end: nothing was ended \(SESSIONCAP_ERR_NOTHING_ENDED\)\n$/)
  t.equal(again.stdout, '')
  const json = await cli(['sessions', 'end', '--user', 'alice', '--keep', '1', '--json', ...h.admin])
  t.equal(json.code, 1)
  t.match(JSON.parse(json.stdout), { code: 'SESSIONCAP_ERR_NOTHING_ENDED' }, '--json also prints the API\'s error object')
})

t.test('sessions end --id: the whole id, or its start with --user', async (t) => {
  const h = await gateway(t)
  const [first, second, third] = await signIn(h, 'alice', 3) as [Device, Device, Device]
  const [id1, id2] = idsOf(await adminGet(h, '/users/alice/sessions')) as [string, string]

  const byId = await cli(['sessions', 'end', `--id=${id1}`, '--json', ...h.admin])
  t.equal(byId.code, 0, byId.stderr)
  const answer = JSON.parse(byId.stdout) as { ended: Array<{ id: string }> }
  t.same(answer.ended.map((s) => s.id), [id1])
  t.equal(await first.whoami(), 401)

  const byStart = await cli(['sessions', 'end', `--id=${id2.slice(0, 12)}`, '--user', 'alice', ...h.admin])
  t.equal(byStart.code, 0, byStart.stderr)
  t.match(byStart.stdout, /^Ended 1 session:\n/)
  t.equal(await second.whoami(), 401)
  t.equal(await third.whoami(), 'alice')

  const gone = await cli(['sessions', 'end', `--id=${id1}`, ...h.admin])
  t.equal(gone.code, 1)
  t.match(gone.stderr, /nothing was ended \(SESSIONCAP_ERR_NOTHING_ENDED\)/)
  const noMatch = await cli(['sessions', 'end', '--id', 'zzzzzz', '--user', 'alice', ...h.admin])
  t.equal(noMatch.code, 1)
  t.match(noMatch.stderr, /none of alice's sessions starts with zzzzzz: nothing was ended/)
})

t.test('over-limit and sweep --max 1: the dry run ends nothing and lists the surplus; the sweep ends exactly it', async (t) => {
  const h = await gateway(t)
  const alice = await signIn(h, 'alice', 2)
  const bob = await signIn(h, 'bob', 3)
  const carol = await signIn(h, 'carol', 1)
  const surplus = [...idsOf(await adminGet(h, '/users/alice/sessions')).slice(0, 1), ...idsOf(await adminGet(h, '/users/bob/sessions')).slice(0, 2)]

  const over = await cli(['sessions', 'over-limit', '--max', '1', ...h.admin])
  t.equal(over.code, 0, over.stderr)
  t.match(over.stdout, /^2 users with more counting sessions than 1:\nUSER +SCOPE +COUNTING +LIMIT +OVER BY\n/)
  t.match(over.stdout, /\nalice +default +2 +5 +1\n/)
  t.match(over.stdout, /\nbob +default +3 +5 +2\n/)
  t.notMatch(over.stdout, /carol/)
  t.match(await cli(['sessions', 'over-limit', ...h.admin]), { code: 0, stdout: 'No user has more counting sessions than their limit.\n' })

  const dry = await cli(['sweep', '--max', '1', '--dry-run', ...h.admin])
  t.equal(dry.code, 0, dry.stderr)
  t.match(dry.stdout, /^Dry run: would end 3 sessions of 2 users over 1:\nUSER +SCOPE +LIMIT +COUNTING +WOULD END\n/)
  for (const id of surplus) t.match(dry.stdout, id.slice(0, 12))
  for (const d of [...alice, ...bob, ...carol]) t.type(await d.whoami(), 'string', 'the dry run ended nothing')

  const sweep = await cli(['sweep', '--max', '1', '--json', ...h.admin])
  t.equal(sweep.code, 0, sweep.stderr)
  const result = JSON.parse(sweep.stdout) as { dryRun: boolean, ended: number, users: Array<{ ended: Array<{ id: string }> }> }
  t.equal(result.dryRun, false)
  t.equal(result.ended, 3)
  t.same(result.users.flatMap((u) => u.ended.map((s) => s.id)).sort(), [...surplus].sort(), 'exactly the surplus, oldest first')
  t.same(await Promise.all([...alice, ...bob, ...carol].map(async (d) => await d.whoami())), [401, 'alice', 401, 401, 'bob', 'carol'])

  const again = await cli(['sweep', '--max', '1', ...h.admin])
  t.match(again, { code: 0, stdout: 'Nothing to end: no user has more counting sessions than 1.\n' })
})

t.test('sweep without --max: each user\'s own limit', async (t) => {
  const h = await startHarness(t, {
    yaml: `${APP_ROUTES}limit: 3\npolicy: evict-oldest\nadmin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }\n`
  })
  const admin = ['--admin-url', h.gateway.adminAddress() ?? '', '--token', TOKEN]
  const devices = await signIn(h, 'alice', 3)
  // The limit is lowered (as a reload would): alice is now one over.
  h.gateway.reload(loadConfigText(`upstream: ${h.app.url}\nlisten: { host: 127.0.0.1, port: 0 }\nlog: { level: debug }\n${APP_ROUTES}limit: 2\npolicy: evict-oldest\nadmin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }\n`).config)
  const r = await cli(['sweep', ...admin])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /^Ended 1 session of 1 user over their limit:\nUSER +SCOPE +LIMIT +COUNTING +ENDED\nalice +default +2 +3 +1\n/)
  t.same(await Promise.all(devices.map(async (d) => await d.whoami())), [401, 'alice', 'alice'])
})

t.test('a wrong token is exit 1 with the API\'s 401 message', async (t) => {
  const h = await gateway(t)
  const r = await cli(['sessions', 'list', '--user', 'alice', '--admin-url', h.gateway.adminAddress() ?? '', '--token', 'wrong-token-0123456789abcdef0123'])
  t.equal(r.code, 1)
  t.match(r.stderr, /^sessioncap: a valid admin token is required \(Authorization: Bearer \.\.\.\) \(SESSIONCAP_ERR_ADMIN_UNAUTHORIZED\)\n$/)
})

t.test('an admin API that cannot be reached is exit 3, naming the URL', async (t) => {
  const url = `http://127.0.0.1:${await freePort()}`
  const r = await cli(['sweep', '--max', '1', '--admin-url', url, '--token', TOKEN])
  t.equal(r.code, 3)
  t.match(r.stderr, new RegExp(`^sessioncap: cannot reach the admin API at ${url.replace(/\./g, '\\.')}: .*ECONNREFUSED`))
  // The proxied port by mistake: the app answers, not with the API's JSON.
  const h = await gateway(t)
  const proxied = await cli(['sessions', 'list', '--user', 'alice', '--admin-url', h.base, '--token', TOKEN])
  t.equal(proxied.code, 1)
  t.match(proxied.stderr, /answered HTTP 404 with something other than JSON: is it the admin API \(admin\.port\), not the proxied port\?/)
})

t.test('--config: the admin URL and token of the gateway\'s file; flags and variables win over it', async (t) => {
  const h = await gateway(t)
  await signIn(h, 'alice', 1)
  const port = new URL(h.gateway.adminAddress() ?? '').port
  const gatewayFile = (admin: string): string => `upstream: ${h.app.url}\n${APP_ROUTES}admin: ${admin}\n`
  const dir = t.testdir({
    // A gateway listening on every address is reached on loopback.
    'gw.yaml': gatewayFile(`{ host: 0.0.0.0, port: ${port}, token: \${SESSIONCAP_ADMIN_TOKEN} }`),
    'literal.yaml': gatewayFile(`{ host: 127.0.0.1, port: ${port}, token: ${TOKEN} }`),
    'no-admin.yaml': `upstream: ${h.app.url}\n${APP_ROUTES}`,
    'bad.yaml': `upstream: ${h.app.url}\n${APP_ROUTES}limt: 2\n`
  })
  const ok = /^alice: 1 session/
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/gw.yaml`], { SESSIONCAP_ADMIN_TOKEN: TOKEN }), { code: 0, stdout: ok })
  t.match(await cli(['sessions', 'list', '--user', 'alice'], { SESSIONCAP_CONFIG: `${dir}/literal.yaml` }), { code: 0, stdout: ok }, 'SESSIONCAP_CONFIG')
  // The variable wins over the file's token; the flag wins over both.
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/literal.yaml`], { SESSIONCAP_ADMIN_TOKEN: 'wrong-token-0123456789abcdef0123' }), { code: 1, stderr: /SESSIONCAP_ERR_ADMIN_UNAUTHORIZED/ })
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/literal.yaml`, '--token', TOKEN], { SESSIONCAP_ADMIN_TOKEN: 'wrong-token-0123456789abcdef0123' }), { code: 0, stdout: ok })
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/literal.yaml`, '--admin-url', `http://127.0.0.1:${await freePort()}`]), { code: 3 })
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--admin-url', h.gateway.adminAddress() ?? ''], { SESSIONCAP_ADMIN_TOKEN: TOKEN }), { code: 0, stdout: ok }, 'no file needed')

  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/no-admin.yaml`]), { code: 2, stderr: /no-admin\.yaml has no admin: section/ })
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/bad.yaml`]), { code: 2, stderr: /bad\.yaml has 1 problem:\n.*bad\.yaml:\d+:\d+: limt: unknown key/ })
  t.match(await cli(['sessions', 'list', '--user', 'alice', '--config', `${dir}/gw.yaml`]), { code: 2, stderr: /environment variable \$SESSIONCAP_ADMIN_TOKEN is not set/ })
  t.match(await cli(['sessions', 'list', '--user', 'alice']), { code: 2, stderr: /not told where the admin API is/ })
})

t.test('a wrong command line is exit 2 and calls nothing', async (t) => {
  const api = ['--admin-url', 'http://127.0.0.1:1', '--token', TOKEN]
  t.match(await cli(['sessions', 'list', '--offset', 'x', ...api]), { code: 2, stderr: /--offset is a whole number/ })
  t.match(await cli(['sessions', 'end', ...api]), { code: 2, stderr: /sessions end takes --user NAME .* or --id SESSION/ })
  t.match(await cli(['sessions', 'end', '--id', 'x', '--keep', '1', ...api]), { code: 2, stderr: /--keep goes with --user/ })
  t.match(await cli(['sessions', 'end', '--user', 'a', '--keep', 'two', ...api]), { code: 2, stderr: /--keep is a whole number/ })
  t.match(await cli(['sweep', '--max', '0', ...api]), { code: 2, stderr: /--max 0 would mean no limit/ })
  t.match(await cli(['sweep', '--user', 'a', ...api]), { code: 2, stderr: /sweep does not take --user/ })
  t.match(await cli(['sessions', 'frob', ...api]), { code: 2, stderr: /unknown command "sessions frob"/ })
  t.match(await cli(['check', '--json']), { code: 2, stderr: /check does not take --json/ })
  t.match(await cli(['sessions', 'list', '--user', 'a', '--admin-url', 'ftp://x', '--token', TOKEN]), { code: 2, stderr: /is not http\(s\)/ })
  t.match(await cli(['--help']), { code: 0, stdout: /sessioncap sweep \[--max N\] \[--dry-run\]/ })
})

t.test('blocks list and blocks unblock: the login guard\'s blocks, from the command line', async (t) => {
  const h = await gateway(t)
  for (let i = 0; i < 5; i++) await h.device().send('/admin/login/', { form: { username: 'mallory', password: 'wrong' } })
  const listed = await cli(['blocks', 'list', '--user', 'mallory', ...h.admin])
  t.equal(listed.code, 0, listed.stderr)
  t.match(listed.stdout, /^1 active block of mallory \(users and networks are shown as keyed hashes\):\nCOUNTER +USER KEY +NETWORK KEY +UNTIL +FAILURES +TIMES\nuserNetwork +\S+ +\S+ +2026-01-01T00:01:00\.000Z +5 +1\n$/)
  const lifted = await cli(['blocks', 'unblock', '--user', 'mallory', ...h.admin])
  t.equal(lifted.code, 0, lifted.stderr)
  t.match(lifted.stdout, /^Lifted 1 block of mallory:/)
  const none = await cli(['blocks', 'unblock', '--user', 'mallory', ...h.admin])
  t.equal(none.code, 1, 'nothing to lift: the API\'s 404')
  t.match(none.stderr, /no block of this user is active: nothing was lifted/)
  t.equal((await cli(['blocks', 'unblock', ...h.admin])).code, 2, 'unblock names a user or a network')
  t.equal((await cli(['blocks', 'list', '--network', '10.0.0.1', ...h.admin])).code, 2, 'list does not take --network')
})
