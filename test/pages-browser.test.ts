import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Page } from 'playwright-core'
import { APP_ROUTES, startHarness, type Harness } from './helpers/harness.js'
import { deviceContext, screenshot, signIn, startBrowser } from './helpers/browser.js'

/** A form control as the page script sees it; the tests compile without the DOM library. */
type FormField = { value: string }

/**
 * The pages as users meet them: a real Chromium, signing in on the stand-in
 * app's own login form, with real User-Agent strings. Screenshots of each page
 * are saved for the README when SESSIONCAP_SCREENSHOTS is set.
 */
const browser = await startBrowser(t)

async function open (device: 'laptop' | 'phone' | 'tablet'): Promise<Page> {
  const context = await deviceContext(browser, device)
  t.teardown(async () => { await context.close() })
  return await context.newPage()
}

const heading = async (page: Page): Promise<string> => (await page.getByRole('heading', { level: 1 }).textContent()) ?? ''
const body = async (page: Page): Promise<string> => (await page.locator('body').textContent()) ?? ''
const path = (page: Page, h: Harness): string => page.url().slice(h.base.length)

t.test('policy ask: the second browser chooses to sign out the first, which is told why', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\npages: { title: Acme Intranet }\n` })
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  t.match(await body(laptop), /Welcome, alice/, 'the first sign-in is an ordinary one')
  h.clock.advance(42 * 60_000)

  const phone = await open('phone')
  await signIn(phone, h.base, 'alice')
  t.match(path(phone, h), /^\/\.sessioncap\/choose\?next=%2F$/, 'over the limit: sent to the chooser, not the app')
  t.equal(await heading(phone), 'Too many devices signed in')
  t.equal(await phone.title(), 'Too many devices signed in · Acme Intranet')
  const other = phone.getByLabel('Firefox 133 on Windows 10')
  t.equal(await other.count(), 1, 'the other session is listed by its device, with a labelled checkbox')
  t.match(await phone.locator('li', { hasText: 'Firefox 133 on Windows 10' }).textContent(), /127\.0\.0\.x · signed in 42 minutes ago · last used 42 minutes ago/)
  t.match(await phone.locator('li', { hasText: 'This device' }).textContent(), /Chrome 131 on Android 14/, 'this device is marked')
  t.equal(await phone.locator('li', { hasText: 'This device' }).getByRole('checkbox').count(), 0, 'and cannot be picked')
  await screenshot(phone, 'chooser')

  const before = h.app.requests
  await phone.goto(`${h.base}/`)
  t.match(path(phone, h), /^\/\.sessioncap\/choose/, 'until the user chooses, the app is out of reach')
  await phone.goto(`${h.base}/api/me`)
  t.match(path(phone, h), /^\/\.sessioncap\/choose/)
  t.equal(h.app.requests, before, 'no request of the waiting session reached the app')

  // By keyboard: tick the other device, tab to the first button, press Enter.
  await other.focus()
  await phone.keyboard.press('Space')
  t.ok(await other.isChecked())
  await phone.keyboard.press('Tab')
  t.equal(await phone.locator(':focus').textContent(), 'Sign out selected', 'the next control is the button')
  await Promise.all([phone.waitForURL(`${h.base}/api/me`), phone.keyboard.press('Enter')])
  t.match(await body(phone), /"username":"alice"/, 'the phone is signed in, on the page it last asked for')

  h.clock.advance(5 * 60_000)
  await laptop.reload()
  t.match(path(laptop, h), /^\/\.sessioncap\/ended\?n=/, 'the laptop is sent to the signed-out page')
  t.equal(await heading(laptop), 'Signed out from another device')
  const told = await body(laptop)
  t.match(told, /Chrome 131 on Android 14/, 'naming the device that signed it out')
  t.match(told, /127\.0\.0\.x/, 'its approximate address')
  t.match(told, /1 Jan 2026, 00:42 UTC/, 'and when')
  await screenshot(laptop, 'signed-out')
  t.equal(await laptop.context().cookies().then((c) => c.filter((x) => x.name === 'sessionid').length), 0, 'the ended cookie is gone')

  await laptop.getByRole('link', { name: 'Sign in again' }).click()
  t.equal(path(laptop, h), '/admin/login/', 'the link leads to the app\'s login page')
  await signIn(laptop, h.base, 'alice')
  t.match(path(laptop, h), /^\/\.sessioncap\/choose/, 'and signing in again works (it is asked in turn)')
  await Promise.all([laptop.waitForURL(`${h.base}/`), laptop.getByRole('button', { name: 'Sign out all other devices' }).click()])
  t.match(await body(laptop), /Welcome, alice/)
  await phone.reload()
  t.match(path(phone, h), /^\/\.sessioncap\/ended/)
})

t.test('cancelling the sign-in ends only the waiting session; the device can sign in again', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\n` })
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  const tablet = await open('tablet')
  await signIn(tablet, h.base, 'alice')
  await tablet.getByRole('button', { name: 'Cancel this sign-in' }).click()
  t.equal(await heading(tablet), 'Sign-in cancelled')
  t.match(await body(tablet), /Your other sessions are still signed in/)
  await laptop.reload()
  t.match(await body(laptop), /Welcome, alice/, 'the other device is untouched')
  await tablet.goto(`${h.base}/`)
  t.match(await body(tablet), /You are not signed in/, 'the cancelled session reaches the app as nobody')
  await signIn(tablet, h.base, 'alice')
  t.match(path(tablet, h), /^\/\.sessioncap\/choose/, 'and the device can sign in again')
})

t.test('a device ended by the limit is told which device signed in', async (t) => {
  const h = await startHarness(t, { yaml: APP_ROUTES })
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  h.clock.advance(90 * 60_000)
  const phone = await open('phone')
  await signIn(phone, h.base, 'alice')
  t.match(await body(phone), /Welcome, alice/, 'the default policy needs no choice')
  await laptop.reload()
  t.equal(await heading(laptop), 'You have been signed out')
  const told = await body(laptop)
  t.match(told, /Your account signed in on another device/)
  t.match(told, /Chrome 131 on Android 14/)
  t.match(told, /1 Jan 2026, 01:30 UTC/)
  await screenshot(laptop, 'signed-out-limit')
})

t.test('the block page: after 5 wrong passwords a browser is told to wait, styled as the other pages, and signs in once the block is over', async (t) => {
  const h = await startHarness(t, { yaml: APP_ROUTES })
  const laptop = await open('laptop')
  const tryPassword = async (password: string): Promise<number> => {
    await laptop.goto(`${h.base}/admin/login/`)
    await laptop.getByLabel('Username').fill('alice')
    await laptop.getByLabel('Password').fill(password)
    const [answer] = await Promise.all([laptop.waitForResponse((r) => r.request().method() === 'POST'), laptop.getByRole('button', { name: 'Sign in' }).click()])
    await laptop.waitForLoadState()
    return answer.status()
  }
  for (let i = 0; i < 5; i++) t.equal(await tryPassword('wrong'), 200, `wrong password ${i + 1}: the app's own answer`)
  t.equal(h.app.loginPosts, 5)
  t.equal(await tryPassword('secret'), 429, 'the 6th attempt, even with the right password, is answered by the gateway')
  t.equal(h.app.loginPosts, 5, 'and never reached the app')
  t.equal(await heading(laptop), 'Too many sign-in attempts')
  t.match(await body(laptop), /Try again in 1 minute\./)
  // The gateway's own style sheet applies (the page is not bare HTML): the heading is not the browser default font.
  t.not(await laptop.evaluate('getComputedStyle(document.body).fontFamily'), 'Times New Roman', 'styled like the other pages')
  await screenshot(laptop, 'blocked')
  await laptop.getByRole('link', { name: 'Back to sign in' }).click()
  await laptop.waitForLoadState()
  t.equal(path(laptop, h), '/admin/login/', 'the link leads back to the sign-in form')
  h.clock.advance(61_000)
  t.equal(await tryPassword('secret'), 302, 'a minute later the right password signs in')
  t.match(await body(laptop), /Welcome, alice/)
})

t.test('the sessions page lists every session and ends the ones the user picks', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}limit: 3\n` })
  const phone = await open('phone')
  await signIn(phone, h.base, 'alice')
  h.clock.advance(2 * 86_400_000)
  const tablet = await open('tablet')
  await signIn(tablet, h.base, 'alice')
  h.clock.advance(3 * 3_600_000)
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  h.clock.advance(5 * 60_000)
  await phone.goto(`${h.base}/`)
  h.clock.advance(60_000)

  await laptop.goto(`${h.base}/.sessioncap/sessions`)
  t.equal(await heading(laptop), 'Your sessions')
  const rows = laptop.locator('ul.sessions li')
  t.equal(await rows.count(), 3)
  t.match(await rows.nth(0).textContent(), /Firefox 133 on Windows 10\s*This device/, 'this device first')
  t.match(await rows.nth(1).textContent(), /Chrome 131 on Android 14.*signed in 2 days ago · last used 1 minute ago/s, 'then the most recently used')
  t.match(await rows.nth(2).textContent(), /Mobile Safari 17 on iOS 17\.5.*signed in 3 hours ago/s)
  await screenshot(laptop, 'sessions')

  await laptop.getByRole('button', { name: /^Sign out Mobile Safari 17/ }).click()
  t.match(await laptop.getByRole('status').textContent(), /Signed out 1 session\./)
  t.equal(await rows.count(), 2)
  await tablet.reload()
  t.equal(await heading(tablet), 'Signed out from another device', 'the tablet is told')
  t.match(await body(tablet), /Firefox 133 on Windows 10/)

  await laptop.getByRole('button', { name: 'Sign out everywhere else' }).click()
  t.match(await laptop.getByRole('status').textContent(), /Signed out 1 session\./)
  t.equal(await rows.count(), 1)
  t.equal(await laptop.getByRole('button', { name: 'Sign out everywhere else' }).count(), 0, 'nothing else left to end')
  await phone.reload()
  t.match(path(phone, h), /^\/\.sessioncap\/ended/)
  await laptop.goto(`${h.base}/`)
  t.match(await body(laptop), /Welcome, alice/, 'the device in hand is still signed in')

  const stranger = await open('phone')
  await stranger.goto(`${h.base}/.sessioncap/sessions`)
  t.match(await body(stranger), /You are not signed in/, 'someone not signed in is shown nothing')
})

t.test('when the user does not choose in time, the fallback policy decides', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\nask: { timeout: 2m }\n` })
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  const phone = await open('phone')
  await signIn(phone, h.base, 'alice')
  t.match(await body(phone), /If you do not choose within 2 minutes, the session used least recently is signed out\./)
  h.clock.advance(60_000)
  await laptop.reload()
  t.match(await body(laptop), /Welcome, alice/, 'while the phone waits, the laptop goes on')
  h.clock.advance(61_000)
  await phone.reload()
  t.equal(path(phone, h), '/', 'after the timeout the chooser lets the phone through')
  t.match(await body(phone), /Welcome, alice/)
  await laptop.reload()
  t.equal(await heading(laptop), 'You have been signed out', 'and the least recently used session is ended')
  t.match(await body(laptop), /Chrome 131 on Android 14/)
})

t.test('a reject-new fallback cancels the waiting sign-in instead', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\nask: { timeout: 2m, fallback: reject-new }\n` })
  const laptop = await open('laptop')
  await signIn(laptop, h.base, 'alice')
  const phone = await open('phone')
  await signIn(phone, h.base, 'alice')
  t.match(await body(phone), /this sign-in is cancelled and your other sessions stay signed in/)
  h.clock.advance(3 * 60_000)
  await phone.reload()
  t.equal(await heading(phone), 'You have been signed out')
  t.match(await body(phone), /reached the number of devices it may be signed in on at once/)
  await laptop.reload()
  t.match(await body(laptop), /Welcome, alice/)
})

t.test('forged forms end nothing', async (t) => {
  const h = await startHarness(t, { yaml: `${APP_ROUTES}policy: ask\nlimit: 2\n` })
  const alice1 = await open('laptop')
  await signIn(alice1, h.base, 'alice')
  const alice2 = await open('tablet')
  await signIn(alice2, h.base, 'alice')
  const bob1 = await open('laptop')
  await signIn(bob1, h.base, 'bob')
  const bob2 = await open('phone')
  await signIn(bob2, h.base, 'bob')
  await bob2.goto(`${h.base}/.sessioncap/sessions`)
  const bobHandle = await bob2.locator('button[name=end]').getAttribute('value')
  t.ok(bobHandle, 'bob\'s other session, as his page names it')

  t.test('another user\'s session id', async (t) => {
    await alice2.goto(`${h.base}/.sessioncap/sessions`)
    await alice2.locator('button[name=end]').evaluate((b, v) => { (b as unknown as FormField).value = v }, bobHandle as string)
    await alice2.locator('button[name=end]').click()
    t.match(await alice2.getByRole('alert').textContent(), /not one of yours\. Nothing was signed out/)
    await bob1.reload()
    t.match(await body(bob1), /Welcome, bob/, 'bob\'s session is untouched')
    await alice1.reload()
    t.match(await body(alice1), /Welcome, alice/, 'and so are alice\'s')
  })

  t.test('a wrong CSRF token', async (t) => {
    await alice2.goto(`${h.base}/.sessioncap/sessions`)
    await alice2.locator('input[name=csrf]').evaluate((i) => { (i as unknown as FormField).value = 'forged' })
    const answer = alice2.waitForResponse((r) => r.request().method() === 'POST')
    await alice2.getByRole('button', { name: 'Sign out everywhere else' }).click()
    t.equal((await answer).status(), 403)
    t.match(await alice2.getByRole('alert').textContent(), /This form has expired\. Nothing was signed out/)
    await alice1.reload()
    t.match(await body(alice1), /Welcome, alice/)
  })

  t.test('a token from another session of the same user', async (t) => {
    await alice1.goto(`${h.base}/.sessioncap/sessions`)
    const token = await alice1.locator('input[name=csrf]').inputValue()
    await alice2.goto(`${h.base}/.sessioncap/sessions`)
    await alice2.locator('input[name=csrf]').evaluate((i, v) => { (i as unknown as FormField).value = v }, token)
    await alice2.getByRole('button', { name: 'Sign out everywhere else' }).click()
    t.match(await alice2.getByRole('alert').textContent(), /This form has expired/)
    await alice1.goto(`${h.base}/`)
    t.match(await body(alice1), /Welcome, alice/)
  })

  t.test('a form posted from another site', async (t) => {
    // A page on another origin that posts to the gateway as soon as it loads.
    const evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end(`<form id=f method=post action="${h.base}/.sessioncap/sessions"><input name=action value=end-others></form><script>document.getElementById('f').submit()</script>`)
    })
    await new Promise<void>((resolve) => { evil.listen(0, 'localhost', resolve) })
    t.teardown(() => { evil.close() })
    await alice2.goto(`http://localhost:${(evil.address() as AddressInfo).port}/`)
    await alice2.waitForURL(`${h.base}/.sessioncap/sessions`)
    t.match(await body(alice2), /You are not signed in|This form has expired/, 'the post ends nothing')
    await alice1.reload()
    t.match(await body(alice1), /Welcome, alice/)
  })

  t.test('a forged chooser post', async (t) => {
    const third = await open('phone')
    await signIn(third, h.base, 'alice')
    t.match(path(third, h), /^\/\.sessioncap\/choose/)
    await third.locator('input[name=csrf]').evaluate((i) => { (i as unknown as FormField).value = 'x' })
    await third.getByRole('button', { name: 'Sign out all other devices' }).click()
    t.match(await third.getByRole('alert').textContent(), /This form has expired/)
    await alice1.reload()
    t.match(await body(alice1), /Welcome, alice/)
    await alice2.goto(`${h.base}/`)
    t.match(await body(alice2), /Welcome, alice/)
  })
})

t.test('a sign-in form sent as multipart/form-data by Chromium reaches the app, its user read by the gateway', async (t) => {
  const h = await startHarness(t, { yaml: `session: { cookie: sessionid }\nlogin:\n  - { path: /echo, user: { form: username }, status: [200] }\n` })
  const page = await open('laptop')
  // A form with enctype multipart/form-data, as an app's page would hold it (the stand-in app echoes what it got).
  await page.setContent(`<form method="post" action="${h.base}/echo" enctype="multipart/form-data"><input name="username" value="zoë"><input name="password" value="secret"><button>Sign in</button></form>`)
  const [answer] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST'), page.getByRole('button', { name: 'Sign in' }).click()])
  t.equal(answer.status(), 200, 'not refused by the gateway')
  const echoed = await answer.json() as { headers: Record<string, string>, body: string }
  t.match(echoed.headers['content-type'], /^multipart\/form-data; boundary=----WebKitFormBoundary/, 'Chromium\'s own multipart body')
  const { identify } = await import('../src/identity/index.js')
  const route = h.gateway.context.routes.login('POST', '/echo')
  t.same(identify(route!.identity, { headers: echoed.headers, query: '', body: Buffer.from(echoed.body) }, false), { kind: 'user', user: 'zoë' }, 'the gateway reads its user')
})
