/**
 * End to end, production-shaped: one Gatehouse with several SAML connections to one real
 * SimpleSAMLphp 1.19, Gatehouse on https (a TLS-terminating front, as a load balancer is) at
 * https://gatehouse.test and the IdP at http://idp.test (Chromium maps both names to loopback),
 * so the IdP's auto-submitted POST to the ACS is cross-site, as it is in production.
 *
 * - `plain`: no encryption, unsigned requests (connection A).
 * - `sealed`: signed AuthnRequests (the IdP requires them), encrypted assertions required; opts
 *   into CBC because SimpleSAMLphp 1.19 always encrypts with aes128-cbc (connection B).
 * - `gcm-only`: the same without the CBC opt-in: refused with encryption-algorithm-not-allowed.
 * - `rolling`: the IdP encrypts to the second SP key (the one rolling in).
 * - `unsigned`: the IdP requires signed requests, Gatehouse does not sign: the IdP refuses
 *   (the control showing the IdP really checks the signature `sealed` sends).
 * Single Logout has its own suite.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page, Request as PwRequest } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { DEFAULT_USERS, simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp, type SpRegistration } from '../helpers/simplesamlphp.js';
import { makeTestKeyPair, SP_KEYS } from '../helpers/test-keys.js';
import { startTlsForwarder, type TlsForwarder } from '../helpers/tls-forwarder.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable());

const NEXT_KEYS = makeTestKeyPair({ commonName: 'sp-next.gatehouse.test' });
const TLS_KEYS = makeTestKeyPair({ commonName: 'gatehouse.test' });
const LOGIN_COOKIE = '__Host-gatehouse_login';
const SESSION_COOKIE = '__Host-gatehouse_session';
/** Probes set in the browser for Gatehouse's origin before each login: which reach the ACS? */
const PROBES = [
  { name: 'probe_lax', sameSite: 'Lax' as const },
  { name: 'probe_none', sameSite: 'None' as const },
];

/** Each connection: its Gatehouse settings and how the IdP treats its SP. */
const CONNECTIONS: { id: string; gatehouse: Record<string, unknown>; idp: Partial<SpRegistration> }[] = [
  { id: 'plain', gatehouse: { sign_requests: false }, idp: {} },
  { id: 'sealed', gatehouse: { encryption: { require: true, allow_cbc: true } }, idp: { certPem: SP_KEYS.certPem, encryptAssertions: true, requireSignedRequests: true } },
  { id: 'gcm-only', gatehouse: { encryption: { require: true } }, idp: { certPem: SP_KEYS.certPem, encryptAssertions: true, requireSignedRequests: true } },
  { id: 'rolling', gatehouse: { encryption: { require: true, allow_cbc: true } }, idp: { certPem: SP_KEYS.certPem, encryptionCertPem: NEXT_KEYS.certPem, encryptAssertions: true, requireSignedRequests: true } },
  { id: 'unsigned', gatehouse: { sign_requests: false }, idp: { certPem: SP_KEYS.certPem, requireSignedRequests: true } },
];

/** What one browser login produced. */
interface Attempt {
  page: Page;
  context: BrowserContext;
  /** The redirect to the IdP's SSO service (the AuthnRequest). */
  authnRequest: URL;
  /** The IdP's POST to our ACS, if it came. */
  acs?: PwRequest;
}

describe('enterprise SAML through SimpleSAMLphp: two kinds of connection, https, cross-site IdP', { timeout: 240_000 }, () => {
  let idp: RunningIdp | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let front: TlsForwarder | undefined;
  let gh: RunningGatehouse | undefined;
  let origin = '';

  before(async () => {
    if (skipReason) return;
    const httpPort = await freePort();
    const started = await Promise.allSettled([
      startSimpleSamlPhp({ publicHost: 'idp.test' }).then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      startTlsForwarder(httpPort, TLS_KEYS).then((v) => (front = v)),
      launchBrowser({ args: ['--host-resolver-rules=MAP gatehouse.test 127.0.0.1, MAP idp.test 127.0.0.1'] }).then((v) => (browser = v)),
    ]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    assert.ok(idp && upstream && front);
    origin = `https://gatehouse.test:${front.port}`;
    for (const c of CONNECTIONS) {
      await idp.registerSp({ entityId: `${origin}/.gatehouse/saml/${c.id}/metadata`, acsUrl: `${origin}/.gatehouse/saml/${c.id}/acs`, ...c.idp });
    }
    // Node cannot resolve idp.test: read the metadata (which names idp.test) at the loopback address.
    const metadata = await (await fetch(idp.localMetadataUrl)).text();
    assert.match(metadata, /entityID="http:\/\/idp\.test:/);
    gh = await startGatehouse({
      port: httpPort,
      files: { 'idp.xml': metadata, 'sp.key': SP_KEYS.privateKeyPem, 'sp.crt': SP_KEYS.certPem, 'next.key': NEXT_KEYS.privateKeyPem, 'next.crt': NEXT_KEYS.certPem },
      config: {
        server: { public_url: origin },
        saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }, { key_file: 'next.key', cert_file: 'next.crt' }] },
      },
      connections: CONNECTIONS.map((c) => ({ id: c.id, idp_metadata_file: 'idp.xml', ...c.gatehouse })),
      routes: [{ name: 'any', path: '/any', upstream: upstream.url, allow: [{ authenticated: true }] }],
    });
  });

  after(async () => {
    await browser?.close();
    await gh?.stop();
    await front?.close();
    await upstream?.close();
    await idp?.stop();
  });

  function running() {
    assert.ok(idp && upstream && browser && gh, 'before() started everything');
    return { idp, upstream, browser, gh };
  }

  /** Starts a login at `connection` in a fresh context, optionally meddles, signs alice in at the IdP. */
  async function attempt(connection: string, opts: { beforeSubmit?: (context: BrowserContext) => Promise<void> } = {}): Promise<Attempt> {
    const { idp, browser } = running();
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    await context.addCookies(PROBES.map((p) => ({ name: p.name, value: '1', url: origin, secure: true, sameSite: p.sameSite })));
    const page = await context.newPage();
    const requests: PwRequest[] = [];
    page.on('request', (r) => requests.push(r));
    await page.goto(`${origin}/.gatehouse/saml/${connection}/login?rd=${encodeURIComponent(`/any/${connection}`)}`);
    const sso = requests.find((r) => r.url().startsWith(`${idp.ssoUrl}?`));
    assert.ok(sso, 'sent to the IdP');
    const result: Attempt = { page, context, authnRequest: new URL(sso.url()) };
    if (!page.url().includes('loginuserpass.php')) return result;
    await opts.beforeSubmit?.(context);
    await loginAtSimpleSamlPhp(page, 'alice', DEFAULT_USERS.find((u) => u.username === 'alice')!.password);
    await page.waitForLoadState('load');
    result.acs = requests.find((r) => r.url() === `${origin}/.gatehouse/saml/${connection}/acs` && r.method() === 'POST');
    return result;
  }

  /** The cookie names the browser sent on a request. */
  async function cookiesSent(req: PwRequest): Promise<string[]> {
    const header = (await req.allHeaders()).cookie ?? '';
    return header.split(';').map((c) => c.trim().split('=')[0]!).filter(Boolean);
  }

  function samlResponseXml(acs: PwRequest): string {
    const form = new URLSearchParams(acs.postData() ?? '');
    return Buffer.from(form.get('SAMLResponse') ?? '', 'base64').toString('utf8');
  }

  async function assertLandedAsAlice(a: Attempt, connection: string): Promise<void> {
    const { upstream } = running();
    assert.ok(a.acs, 'the IdP posted to the ACS');
    assert.equal((await a.acs.response())?.status(), 303);
    assert.equal(a.page.url(), `${origin}/any/${connection}`);
    const seen = upstream.seen.filter((r) => r.url === `/any/${connection}`).at(-1);
    assert.ok(seen, 'the upstream saw the request');
    assert.equal(seen.headers['x-forwarded-user'], 'alice@example.com');
    const session = (await a.context.cookies(origin)).find((c) => c.name === SESSION_COOKIE);
    assert.ok(session?.secure && session.httpOnly && session.sameSite === 'Lax', 'session cookie: __Host-, Secure, HttpOnly, Lax');
  }

  function failureReasons(): unknown[] {
    return running().gh.logs.find((l) => l.event === 'login-failed').map((l) => l.reason);
  }

  it('A (plain): cross-site POST to the https ACS carries the SameSite=None login cookie; a Lax cookie is dropped', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const a = await attempt('plain');
    try {
      assert.equal(a.authnRequest.searchParams.get('Signature'), null, 'plain connection: unsigned request');
      const login = (await a.context.cookies(origin)).find((c) => c.name === LOGIN_COOKIE);
      assert.ok(login?.secure && login.sameSite === 'None', 'login cookie: __Host-, Secure, SameSite=None');
      assert.ok(a.acs, 'the IdP posted to the ACS');
      const sent = await cookiesSent(a.acs);
      assert.ok(sent.includes(LOGIN_COOKIE), `login cookie sent on the cross-site POST (sent: ${sent.join(', ')})`);
      assert.ok(sent.includes('probe_none'), 'control: a SameSite=None probe is sent too');
      assert.ok(!sent.includes('probe_lax'), 'control: a SameSite=Lax cookie is not sent on this cross-site POST');
      const xml = samlResponseXml(a.acs);
      assert.match(xml, /<saml:Assertion\b/);
      assert.doesNotMatch(xml, /EncryptedAssertion/);
      await assertLandedAsAlice(a, 'plain');
    } finally {
      await a.context.close();
    }
  });

  it('control: had the login cookie been SameSite=Lax, the cross-site POST would lose it and the login fail', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const before = failureReasons().length;
    const a = await attempt('plain', {
      beforeSubmit: async (context) => {
        const login = (await context.cookies(origin)).find((c) => c.name === LOGIN_COOKIE);
        assert.ok(login, 'login cookie set');
        await context.addCookies([{ name: LOGIN_COOKIE, value: login.value, url: origin, secure: true, httpOnly: true, sameSite: 'Lax' }]);
      },
    });
    try {
      assert.ok(a.acs, 'the IdP posted to the ACS');
      assert.ok(!(await cookiesSent(a.acs)).includes(LOGIN_COOKIE), 'Chromium dropped the Lax login cookie');
      assert.equal((await a.acs.response())?.status(), 403);
      assert.match(await a.page.content(), /SAML_LOGIN_FAILED/);
      assert.deepEqual(failureReasons().slice(before), ['login-started-in-another-browser'], 'one login-failed line: no nonce, so not this browser\'s login');
      assert.ok(!(await a.context.cookies(origin)).some((c) => c.name === SESSION_COOKIE), 'no session');
    } finally {
      await a.context.close();
    }
  });

  it('B (sealed): signed AuthnRequest accepted by the IdP, aes128-cbc + rsa-oaep assertion decrypted (CBC opted in)', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const a = await attempt('sealed');
    try {
      assert.equal(a.authnRequest.searchParams.get('SigAlg'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
      assert.ok(a.authnRequest.searchParams.get('Signature'), 'request signed');
      const request = inflateRawSync(Buffer.from(a.authnRequest.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
      assert.match(request, new RegExp(`<saml:Issuer[^>]*>${origin.replace(/[.]/g, '\\.')}/\\.gatehouse/saml/sealed/metadata<`));
      assert.ok(a.acs, 'the IdP posted to the ACS');
      const xml = samlResponseXml(a.acs);
      assert.match(xml, /EncryptedAssertion/);
      assert.doesNotMatch(xml, /<saml:Assertion\b/, 'nothing in clear');
      assert.match(xml, /xmlenc#aes128-cbc/);
      assert.match(xml, /xmlenc#rsa-oaep-mgf1p/);
      assert.ok((await cookiesSent(a.acs)).includes(LOGIN_COOKIE));
      await assertLandedAsAlice(a, 'sealed');
      const logins = running().gh.logs.find((l) => l.event === 'login' && l.connection === 'sealed');
      assert.equal(logins.at(-1)?.sp_key, new X509Certificate(SP_KEYS.certPem).fingerprint256, 'decrypted with the first key');
    } finally {
      await a.context.close();
    }
  });

  it('B without the CBC opt-in: the IdP\'s aes128-cbc assertion is refused (encryption-algorithm-not-allowed), no session', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const before = failureReasons().length;
    const a = await attempt('gcm-only');
    try {
      assert.ok(a.acs, 'the IdP posted to the ACS');
      assert.equal((await a.acs.response())?.status(), 403);
      assert.match(await a.page.content(), /SAML_LOGIN_FAILED/);
      assert.deepEqual(failureReasons().slice(before), ['encryption-algorithm-not-allowed']);
      assert.ok(!(await a.context.cookies(origin)).some((c) => c.name === SESSION_COOKIE), 'no session');
    } finally {
      await a.context.close();
    }
  });

  it('key rollover: the IdP encrypts to the second SP key (rolling in) and the login works', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const a = await attempt('rolling');
    try {
      assert.ok(a.acs, 'the IdP posted to the ACS');
      assert.match(samlResponseXml(a.acs), /EncryptedAssertion/);
      await assertLandedAsAlice(a, 'rolling');
      const logins = running().gh.logs.find((l) => l.event === 'login' && l.connection === 'rolling');
      assert.equal(logins.at(-1)?.sp_key, new X509Certificate(NEXT_KEYS.certPem).fingerprint256, 'decrypted with the second key');
    } finally {
      await a.context.close();
    }
  });

  it('control: the IdP refuses an unsigned AuthnRequest where it requires signed ones (so `sealed` was verified)', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const a = await attempt('unsigned');
    try {
      assert.equal(a.authnRequest.searchParams.get('Signature'), null);
      assert.ok(!a.page.url().includes('loginuserpass.php'), `no login form (at ${a.page.url()})`);
      assert.equal(await a.page.locator('input[name="password"]').count(), 0);
      assert.match(await a.page.content(), /signature/i);
    } finally {
      await a.context.close();
    }
  });
});
