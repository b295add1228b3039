/**
 * Headless Debian Chromium driven by playwright-core (no browser download), for e2e tests.
 */
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
const LOGIN_TIMEOUT_MS = 15_000;

/** True when Debian's `chromium` package is installed. */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/**
 * Launch headless Chromium. Playwright's `launch()` gives every browser a fresh temporary
 * profile (user-data-dir) and deletes it on `close()`; it refuses a `--user-data-dir` argument.
 * `args` are added, e.g. `--host-resolver-rules=MAP idp.test 127.0.0.1`.
 */
export async function launchBrowser(opts: { args?: string[] } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...(opts.args ?? []),
    ],
  });
}

function isLoginPage(url: URL): boolean {
  return url.pathname.endsWith('/loginuserpass.php');
}

/**
 * Fill SimpleSAMLphp's login form (`username`, `password`) on `page`, submit it, and wait until
 * the browser has left the login page. SimpleSAMLphp 1.19 answers the login POST with a 200
 * auto-submitting form at the same URL, so this resolves once the POST to the SP's ACS has
 * committed. Throws if the browser stays on the login page (a wrong password, for example).
 */
export async function loginAtSimpleSamlPhp(page: Page, username: string, password: string): Promise<void> {
  await page.waitForSelector('input[name="password"]', { timeout: LOGIN_TIMEOUT_MS });
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', password);
  const submit = page.locator('#submit_button, form button[type="submit"], form input[type="submit"]').first();
  try {
    await Promise.all([
      page.waitForURL((url) => !isLoginPage(url), { timeout: LOGIN_TIMEOUT_MS, waitUntil: 'commit' }),
      submit.click(),
    ]);
  } catch (err) {
    throw new Error(`login as ${username} did not leave the SimpleSAMLphp login page (${page.url()})`, { cause: err });
  }
}

/**
 * Why the end-to-end suites must skip here, or undefined when they can run. With
 * GATEHOUSE_E2E_REQUIRED=1 (set by .ci/run) a missing dependency is an error, not a skip.
 */
export function e2eSkipReason(idpAvailable: boolean): string | undefined {
  const reason = !idpAvailable
    ? 'SimpleSAMLphp, apache2 or mod_php 8.2 not installed (see .ci/install-system-deps.sh)'
    : !chromiumAvailable()
      ? 'chromium not installed (see .ci/install-system-deps.sh)'
      : undefined;
  if (reason && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(`e2e required but ${reason}`);
  return reason;
}
