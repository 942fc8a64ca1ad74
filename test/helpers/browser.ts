import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'

/**
 * Debian's chromium, driven by playwright-core (Playwright's own browser
 * download is not available here). CHROMIUM overrides the path.
 */
export const CHROMIUM = process.env.CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? '/usr/bin/chromium'

/** Devices the tests sign in with: real User-Agent strings, so the pages show real device names. */
export const DEVICES = {
  laptop: {
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0',
    viewport: { width: 1024, height: 760 }
  },
  phone: {
    userAgent: 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
    viewport: { width: 412, height: 860 },
    isMobile: true,
    hasTouch: true,
    deviceScaleFactor: 1
  },
  tablet: {
    userAgent: 'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    viewport: { width: 820, height: 900 }
  }
} as const

/** One Chromium for a test file, closed at its end. */
export async function startBrowser (t: Test): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    // --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run']
  })
  t.teardown(async () => { await browser.close() })
  return browser
}

/** A fresh browser profile (its own cookies) posing as one of DEVICES. */
export async function deviceContext (browser: Browser, device: keyof typeof DEVICES): Promise<BrowserContext> {
  return await browser.newContext({ ...DEVICES[device], locale: 'en-GB' })
}

/** Signs in on the stand-in app's own login form, as a person would. */
export async function signIn (page: Page, base: string, user: string): Promise<void> {
  await page.goto(`${base}/admin/login/`)
  await page.getByLabel('Username').fill(user)
  await page.getByLabel('Password').fill('secret')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForLoadState()
}

/**
 * Saves what the user sees, for the README, when SESSIONCAP_SCREENSHOTS names
 * a folder (`npm run screenshots` does): a normal test run writes nothing.
 */
export async function screenshot (page: Page, name: string): Promise<void> {
  const dir = process.env.SESSIONCAP_SCREENSHOTS
  if (dir === undefined || dir === '') return
  mkdirSync(dir, { recursive: true })
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true })
}
