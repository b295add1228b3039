/**
 * Single Logout end to end against SimpleSAMLphp 1.19 in headless Chromium, both ways:
 *  1. SP-initiated: sign in, press "Sign out" at Gatehouse; Gatehouse ends its session, sends a
 *     signed LogoutRequest to the IdP, the IdP (which requires signed logout messages from this SP:
 *     `validate.logout`) ends its session and answers with a signed LogoutResponse; Gatehouse
 *     shows "signed out". Signing in again asks for the password.
 *  2. IdP-initiated: sign in, then start logout at the IdP; the IdP sends the browser to
 *     Gatehouse's SLO endpoint with a signed LogoutRequest, Gatehouse ends the session and answers;
 *     the old Gatehouse cookie no longer works.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp } from '../helpers/simplesamlphp.js';
import { SP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTogether } from '../helpers/start-together.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());
const CONNECTION = 'lab';
const COOKIE = 'gatehouse_session';
const STEP_MS = 15_000;

describe('Single Logout with SimpleSAMLphp', { skip: skipReason, timeout: 180_000 }, () => {
  let idp: RunningIdp | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let gh: RunningGatehouse | undefined;

  before(async () => {
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    await startTogether(
      startSimpleSamlPhp().then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      launchBrowser().then((v) => (browser = v)),
    );
    await idp!.registerSp({
      entityId: `${origin}/.gatehouse/saml/${CONNECTION}/metadata`,
      acsUrl: `${origin}/.gatehouse/saml/${CONNECTION}/acs`,
      sloUrl: `${origin}/.gatehouse/saml/${CONNECTION}/slo`,
      certPem: SP_KEYS.certPem,
      validateLogout: true,
    });
    gh = await startGatehouse({
      port,
      files: { 'sp.key': SP_KEYS.privateKeyPem, 'sp.crt': SP_KEYS.certPem },
      config: { saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }] } },
      connections: [{ id: CONNECTION, idp_metadata_url: idp!.metadataUrl }],
      routes: [{ name: 'app', path: '/app', upstream: upstream!.url, allow: [{ authenticated: true }] }],
    });
  });

  after(async () => {
    await browser?.close();
    await gh?.stop();
    await upstream?.close();
    await idp?.stop();
  });

  /** Opens the app in a fresh context, signs in at the IdP, returns the page and the session cookie. */
  async function signIn(user: string, password: string): Promise<{ page: Page; cookie: string }> {
    const context = await browser!.newContext();
    const page = await context.newPage();
    await page.goto(`${gh!.url}/app/home`, { timeout: STEP_MS });
    await loginAtSimpleSamlPhp(page, user, password);
    await page.waitForURL(`${gh!.url}/app/home`, { timeout: STEP_MS });
    const cookie = (await context.cookies(gh!.url)).find((c) => c.name === COOKIE)?.value;
    assert.ok(cookie, 'Gatehouse session cookie set');
    return { page, cookie };
  }

  async function cookieWorks(cookie: string): Promise<boolean> {
    const res = await fetch(`${gh!.url}/.gatehouse/userinfo`, { headers: { cookie: `${COOKIE}=${cookie}` } });
    await res.arrayBuffer();
    return res.status === 200;
  }

  it('SP-initiated: signing out at Gatehouse ends the IdP session too, and the Gatehouse session is gone', async () => {
    const { page, cookie } = await signIn('alice', 'alice-pw');
    assert.ok(await cookieWorks(cookie));
    await page.goto(`${gh!.url}/.gatehouse/logout`, { timeout: STEP_MS });
    await Promise.all([page.waitForURL(`${gh!.url}/.gatehouse/saml/${CONNECTION}/slo?**`, { timeout: STEP_MS }), page.click('button[type="submit"]')]);
    const text = await page.textContent('body');
    assert.match(text ?? '', /also signed out at your identity provider/, `${text}\n${gh!.logs.text()}`);
    assert.equal(await cookieWorks(cookie), false, 'the old Gatehouse cookie no longer works');
    assert.equal((await page.context().cookies(gh!.url)).some((c) => c.name === COOKIE), false, 'cookie cleared in the browser');
    const line = gh!.logs.find((l) => l.event === 'saml-logout' && l.kind === 'LogoutResponse').at(-1);
    assert.equal(line?.verdict, 'ok');
    // The IdP session ended as well: the next visit asks for the password again.
    await page.goto(`${gh!.url}/app/home`, { timeout: STEP_MS });
    await page.waitForSelector('input[name="password"]', { timeout: STEP_MS });
    await page.context().close();
  });

  it('IdP-initiated: logout started at SimpleSAMLphp reaches Gatehouse in the browser, which ends the session and answers', async () => {
    const { page, cookie } = await signIn('bob', 'bob-pw');
    // ReturnTo must be a URL SimpleSAMLphp trusts (its own host and port): its welcome page.
    const done = `${idp!.baseUrl}module.php/core/frontpage_welcome.php`;
    const before = gh!.logs.find((l) => l.event === 'saml-logout').length;
    await page.goto(`${idp!.sloUrl}?ReturnTo=${encodeURIComponent(done)}`, { timeout: STEP_MS });
    await page.waitForURL(done, { timeout: STEP_MS }).catch(async (err: unknown) => {
      throw new Error(`stuck at ${page.url()}: ${(await page.textContent("body"))?.replace(/\s+/g, " ").slice(0, 3000)}\n${gh!.logs.text()}`, { cause: err });
    });
    const lines = gh!.logs.find((l) => l.event === 'saml-logout').slice(before);
    assert.deepEqual(lines.map((l) => [l.kind, l.verdict, l.ended]), [['LogoutRequest', 'ok', 1]], gh!.logs.text());
    assert.equal(await cookieWorks(cookie), false, 'the Gatehouse cookie no longer works');
    await page.goto(`${gh!.url}/app/home`, { timeout: STEP_MS });
    await page.waitForSelector('input[name="password"]', { timeout: STEP_MS });
    await page.context().close();
  });
});
