/**
 * Step-up end to end against SimpleSAMLphp 1.19 in Chromium. Over plain http SimpleSAMLphp states
 * AuthnContextClassRef `...:Password` for its exampleauth logins and ignores RequestedAuthnContext,
 * so: a route that accepts that class admits the session (the class was read from the real
 * assertion), a route that requires X509 sends the browser back to the IdP asking for it, the IdP
 * answers from its SSO session with Password again, and Gatehouse refuses that answer. A route
 * with max_authn_age sends an older login back with ForceAuthn, and the IdP asks for the password
 * again (exampleauth honours ForceAuthn); the new login makes a new session that gets through.
 */
import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page, Response as PwResponse } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp } from '../helpers/simplesamlphp.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTogether } from '../helpers/start-together.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());

const CONNECTION = 'lab';
const SESSION_COOKIE = 'gatehouse_session';
const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';
const MAX_AGE_S = 4;

/** URLs of a navigation's redirect chain, first request first. */
function redirectChain(res: PwResponse): string[] {
  const urls: string[] = [];
  for (let req: ReturnType<PwResponse['request']> | null = res.request(); req; req = req.redirectedFrom()) urls.unshift(req.url());
  return urls;
}

/** The AuthnRequest XML of an IdP SSO URL (HTTP-Redirect binding). */
function authnRequestOf(url: string): string {
  return inflateRawSync(Buffer.from(new URL(url).searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
}

describe('step-up through SimpleSAMLphp in Chromium', { timeout: 180_000 }, () => {
  let idp: RunningIdp | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let gh: RunningGatehouse | undefined;
  let acsUrl = '';

  before(async () => {
    if (skipReason) return;
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    acsUrl = `${origin}/.gatehouse/saml/${CONNECTION}/acs`;
    await startTogether(
      startSimpleSamlPhp().then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      launchBrowser().then((v) => (browser = v)),
    );
    assert.ok(idp && upstream);
    await idp.registerSp({ entityId: `${origin}/.gatehouse/saml/${CONNECTION}/metadata`, acsUrl });
    gh = await startGatehouse({
      port,
      connections: [{ id: CONNECTION, idp_metadata_url: idp.metadataUrl }],
      routes: [
        { name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
        { name: 'pw', path: '/pw', upstream: upstream.url, allow: [{ authenticated: true }], require_authn_context: [`${AC}Password`, `${AC}PasswordProtectedTransport`] },
        { name: 'mfa', path: '/mfa', upstream: upstream.url, allow: [{ authenticated: true }], require_authn_context: [`${AC}X509`] },
        { name: 'recent', path: '/recent', upstream: upstream.url, allow: [{ authenticated: true }], max_authn_age: `${MAX_AGE_S}s` },
      ],
    });
  });

  after(async () => {
    await browser?.close();
    await gh?.stop();
    await upstream?.close();
    await idp?.stop();
  });

  function running(): { idp: RunningIdp; upstream: TestUpstream; browser: Browser; gh: RunningGatehouse } {
    assert.ok(idp && upstream && browser && gh, 'before() started everything');
    return { idp, upstream, browser, gh };
  }

  async function withPage<T>(fn: (page: Page, context: BrowserContext) => Promise<T>): Promise<T> {
    const context = await running().browser.newContext();
    try {
      return await fn(await context.newPage(), context);
    } finally {
      await context.close();
    }
  }

  /** Opens `path`, signs alice in at the IdP's form, and waits to land back on `path`. */
  async function signIn(page: Page, path: string): Promise<void> {
    const { idp, gh } = running();
    await page.goto(`${gh.url}${path}`);
    assert.ok(page.url().startsWith(`${idp.baseUrl}module.php/core/loginuserpass.php`), `on the IdP login form, got ${page.url()}`);
    const landed = page.waitForResponse((r) => r.url() === `${gh.url}${path}` && r.request().isNavigationRequest());
    await loginAtSimpleSamlPhp(page, 'alice', 'alice-pw');
    assert.equal((await landed).status(), 200);
  }

  async function sessionOf(context: BrowserContext): Promise<string | undefined> {
    return (await context.cookies(running().gh.url)).find((c) => c.name === SESSION_COOKIE)?.value;
  }

  it('a route requiring X509 refuses the Password login SimpleSAMLphp gives, after asking for X509; a route accepting Password admits it', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { idp, gh, upstream } = running();
    await withPage(async (page, context) => {
      await signIn(page, '/ml/a');
      const session = await sessionOf(context);
      assert.ok(session);

      const pw = await page.goto(`${gh.url}/pw/a`);
      assert.equal(pw?.status(), 200, 'control: the class read from the real assertion is Password, which /pw accepts');

      const acs = page.waitForResponse((r) => r.url() === acsUrl && r.request().method() === 'POST');
      const first = await page.goto(`${gh.url}/mfa/a`);
      assert.ok(first);
      const chain = redirectChain(first);
      assert.equal(chain[1], `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=%2Fmfa%2Fa&step_up=mfa`);
      assert.ok(chain[2]?.startsWith(`${idp.ssoUrl}?SAMLRequest=`), `sent to the IdP, got ${chain[2]}`);
      const request = authnRequestOf(chain[2]!);
      assert.match(request, /<samlp:RequestedAuthnContext[^>]*Comparison="exact"[^>]*><saml:AuthnContextClassRef[^>]*>urn:oasis:names:tc:SAML:2\.0:ac:classes:X509</);
      assert.doesNotMatch(request, /ForceAuthn/);

      const refused = await acs;
      assert.equal(refused.status(), 403);
      assert.match(await refused.text(), /SAML_LOGIN_FAILED/);
      const line = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === refused.headers()['x-request-id']);
      assert.equal(line.length, 1);
      assert.equal(line[0]!.reason, 'authn-context-not-satisfied');
      assert.equal(upstream.seen.filter((r) => r.url === '/mfa/a').length, 0, 'the upstream saw nothing');
      assert.equal(await sessionOf(context), session, 'no new session; the old one is kept');
      assert.equal((await page.goto(`${gh.url}/ml/b`))?.status(), 200, 'and still works where it is enough');
    });
  });

  it('max_authn_age: an older login is sent back with ForceAuthn, SimpleSAMLphp asks for the password again, and a new session gets through', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { idp, gh, upstream } = running();
    await withPage(async (page, context) => {
      await signIn(page, '/ml/c');
      const session = await sessionOf(context);
      await sleep((MAX_AGE_S + 1) * 1000);

      const first = await page.goto(`${gh.url}/recent/c`);
      assert.ok(first);
      const chain = redirectChain(first);
      assert.equal(chain[1], `${gh.url}/.gatehouse/saml/${CONNECTION}/login?rd=%2Frecent%2Fc&step_up=recent&fresh=1`);
      assert.match(authnRequestOf(chain[2]!), /ForceAuthn="true"/);
      assert.ok(page.url().startsWith(`${idp.baseUrl}module.php/core/loginuserpass.php`), `the IdP asks for the password again despite its SSO session, got ${page.url()}`);

      const landed = page.waitForResponse((r) => r.url() === `${gh.url}/recent/c` && r.request().isNavigationRequest());
      await loginAtSimpleSamlPhp(page, 'alice', 'alice-pw');
      assert.equal((await landed).status(), 200);
      assert.equal(page.url(), `${gh.url}/recent/c`, 'the return path is kept');
      const fresh = await sessionOf(context);
      assert.ok(fresh && fresh !== session, 'a new session');
      assert.equal(upstream.seen.filter((r) => r.url === '/recent/c').length, 1);
    });
  });
});
