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
 * Single Logout through `sealed` (the IdP requires signed logout messages from it), both ways,
 * over https with the IdP cross-site; `plain` registers no SLO endpoint at the IdP, so when one
 * browser holds both, SimpleSAMLphp cannot sign plain out (it drops it; its answer to an
 * SP-initiated logout is then Success/PartialLogout). Plain-http Single Logout with one connection
 * is slo-simplesamlphp.test.ts.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
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
import { startTogether } from '../helpers/start-together.js';

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
const CONNECTIONS: { id: string; gatehouse: Record<string, unknown>; idp: Partial<SpRegistration>; slo?: true }[] = [
  { id: 'plain', gatehouse: { sign_requests: false }, idp: {} },
  { id: 'sealed', gatehouse: { encryption: { require: true, allow_cbc: true } }, idp: { certPem: SP_KEYS.certPem, encryptAssertions: true, requireSignedRequests: true, validateLogout: true }, slo: true },
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
    await startTogether(
      startSimpleSamlPhp({ publicHost: 'idp.test' }).then((v) => (idp = v)),
      startTestUpstream().then((v) => (upstream = v)),
      startTlsForwarder(httpPort, TLS_KEYS).then((v) => (front = v)),
      launchBrowser({ args: ['--host-resolver-rules=MAP gatehouse.test 127.0.0.1, MAP idp.test 127.0.0.1'] }).then((v) => (browser = v)),
    );
    assert.ok(idp && upstream && front);
    origin = `https://gatehouse.test:${front.port}`;
    for (const c of CONNECTIONS) await idp.registerSp(registration(c.id));
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

  /** How the IdP trusts a connection's SP; `extra` changes it (e.g. its SLO bindings). */
  function registration(id: string, extra: Partial<SpRegistration> = {}): SpRegistration {
    const c = CONNECTIONS.find((x) => x.id === id)!;
    const sloUrl = c.slo ? { sloUrl: `${origin}/.gatehouse/saml/${c.id}/slo` } : {};
    return { entityId: `${origin}/.gatehouse/saml/${c.id}/metadata`, acsUrl: `${origin}/.gatehouse/saml/${c.id}/acs`, ...sloUrl, ...c.idp, ...extra };
  }

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

  /** The Gatehouse session cookie of this browser context, if it has one. */
  async function sessionCookie(context: BrowserContext): Promise<string | undefined> {
    return (await context.cookies(origin)).find((c) => c.name === SESSION_COOKIE)?.value;
  }

  /** Whether a session cookie still opens a session (asked at Gatehouse's own listener). */
  async function cookieWorks(value: string): Promise<boolean> {
    const res = await fetch(`${running().gh.url}/.gatehouse/userinfo`, { headers: { cookie: `${SESSION_COOKIE}=${value}` } });
    await res.arrayBuffer();
    return res.status === 200;
  }

  /** The XML of an HTTP-Redirect binding message (DEFLATE, base64) in a URL. */
  function redirectXml(url: URL, param: 'SAMLRequest' | 'SAMLResponse'): string {
    const value = url.searchParams.get(param);
    assert.ok(value, `${param} in ${url.pathname}`);
    return inflateRawSync(Buffer.from(value, 'base64')).toString('utf8');
  }

  /** The IdP's trusted ReturnTo (its own welcome page) for a logout started at the IdP. */
  function idpReturnTo(): string {
    return `${running().idp.baseUrl}module.php/core/frontpage_welcome.php?signed-out=1`;
  }

  const SLO_PATH = '/.gatehouse/saml/sealed/slo';
  const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
  const STEP_MS = 15_000;

  /** A logout message as the browser delivered it: the XML, and the binding's signature and RelayState. */
  function deliveredMessage(r: PwRequest, param: 'SAMLRequest' | 'SAMLResponse'): { xml: string; signed: boolean; relayState: string | null } {
    if (r.method() === 'GET') {
      const url = new URL(r.url());
      assert.equal(url.searchParams.get('SigAlg'), RSA_SHA256);
      return { xml: redirectXml(url, param), signed: !!url.searchParams.get('Signature'), relayState: url.searchParams.get('RelayState') };
    }
    const form = new URLSearchParams(r.postData() ?? '');
    const xml = Buffer.from(form.get(param) ?? '', 'base64').toString('utf8');
    return { xml, signed: /<ds:Signature\b[\s\S]*<ds:SignatureMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#rsa-sha256"/.test(xml), relayState: form.get('RelayState') };
  }

  // The IdP answers our LogoutRequest by the binding the SP's SingleLogoutService is registered
  // with at the IdP: Redirect (a top-level cross-site GET, where even a Lax cookie would be sent)
  // and POST (a cross-site form POST: only the SameSite=None login cookie gets through).
  for (const binding of ['redirect', 'post'] as const) {
    it(`SLO, SP-initiated through sealed over https (IdP answers by ${binding}): signed LogoutRequest to the IdP, whose signed LogoutResponse comes back cross-site with the SameSite=None login cookie and is accepted; both sessions end`, async (t) => {
      if (skipReason) return t.skip(skipReason);
      const { idp, gh } = running();
      const method = binding === 'post' ? 'POST' : 'GET';
      await idp.registerSp(registration('sealed', { sloBindings: [binding] }));
      const a = await attempt('sealed');
      try {
        await assertLandedAsAlice(a, 'sealed');
        const cookie = await sessionCookie(a.context);
        assert.ok(cookie && (await cookieWorks(cookie)), 'signed in through sealed');
        const requests: PwRequest[] = [];
        a.page.on('request', (r) => requests.push(r));
        // Control, from the same genuine LogoutResponse: before the browser delivers it, Gatehouse is
        // sent it without this browser's login cookie and refuses it (the binding is really checked;
        // a failed check consumes nothing). Then the browser's own cross-site request goes on.
        // (Raw CDP interception: Playwright's page.route does not see the hops of a redirect chain.)
        let control: { status: number; body: string; reasons: unknown[] } | undefined;
        const cdp = await a.context.newCDPSession(a.page);
        type Paused = { requestId: string; request: { url: string; method: string; postData?: string; postDataEntries?: { bytes?: string }[]; headers: Record<string, string> } };
        cdp.on('Fetch.requestPaused', (e: Paused) => {
          void (async () => {
            try {
              const before = gh.logs.find((l) => l.event === 'logout-failed').length;
              const body = e.request.postData ?? (e.request.postDataEntries ?? []).map((x) => Buffer.from(x.bytes ?? '', 'base64').toString('utf8')).join('');
              const init: RequestInit = e.request.method === 'POST' ? { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {};
              const res = await fetch(`${gh.url}${SLO_PATH}${new URL(e.request.url).search}`, init);
              control = { status: res.status, body: await res.text(), reasons: gh.logs.find((l) => l.event === 'logout-failed').slice(before).map((l) => l.reason) };
            } finally {
              await cdp.send('Fetch.continueRequest', { requestId: e.requestId });
            }
          })();
        });
        await cdp.send('Fetch.enable', { patterns: [{ urlPattern: `${origin}${SLO_PATH}*`, requestStage: 'Request' }] });
        await a.page.goto(`${origin}/.gatehouse/logout`, { timeout: STEP_MS });
        const atSlo = (u: URL) => u.origin === origin && u.pathname === SLO_PATH;
        await Promise.all([a.page.waitForURL(atSlo, { timeout: STEP_MS }), a.page.click('button[type="submit"]')]);
        await a.page.waitForLoadState('load');
        await cdp.send('Fetch.disable');
        await cdp.detach();

        // Our LogoutRequest (always Redirect), signed (the IdP requires it: validate.logout), for the sealed SP.
        const out = requests.find((r) => r.url().startsWith(`${idp.sloUrl}?`) && new URL(r.url()).searchParams.has('SAMLRequest'));
        assert.ok(out, 'the browser went on to the IdP with a LogoutRequest');
        const request = deliveredMessage(out, 'SAMLRequest');
        assert.ok(request.signed, 'LogoutRequest signed');
        assert.match(request.xml, /<samlp:LogoutRequest\b/);
        assert.ok(request.xml.includes(`>${origin}/.gatehouse/saml/sealed/metadata</saml:Issuer>`), request.xml);
        assert.ok(request.xml.includes(`Destination="${idp.sloUrl}"`), request.xml);
        assert.match(request.xml, /<samlp:SessionIndex>[^<]+<\/samlp:SessionIndex>/);

        // The IdP's answer: signed, Success, delivered cross-site (http://idp.test -> https://gatehouse.test).
        const back = requests.find((r) => atSlo(new URL(r.url())));
        assert.ok(back, 'the IdP sent the browser back to the SLO endpoint');
        assert.equal(back.method(), method, `the IdP answered by ${binding}`);
        const response = deliveredMessage(back, 'SAMLResponse');
        assert.ok(response.signed, 'LogoutResponse signed by the IdP');
        assert.ok(response.relayState, 'our RelayState came back');
        assert.match(response.xml, /<samlp:LogoutResponse\b/);
        assert.match(response.xml, /StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"/);
        assert.equal((await back.allHeaders())['sec-fetch-site'], 'cross-site', 'the IdP is another site');
        const sent = await cookiesSent(back);
        assert.ok(sent.includes(LOGIN_COOKIE), `login cookie sent with the cross-site LogoutResponse (sent: ${sent.join(', ')})`);
        if (binding === 'post') assert.ok(!sent.includes('probe_lax'), 'control: a SameSite=Lax cookie is not sent on this cross-site POST');
        assert.equal((await back.response())?.status(), 200);
        const text = (await a.page.textContent('body')) ?? '';
        assert.match(text, /also signed out at your identity provider/, `${text}\n${gh.logs.text()}`);

        // The control: the same response without the login cookie was refused, and consumed nothing.
        assert.ok(control, 'control ran');
        assert.equal(control.status, 403);
        assert.match(control.body, /SAML_LOGOUT_FAILED/);
        assert.deepEqual(control.reasons, ['logout-started-in-another-browser']);

        const lines = gh.logs.find((l) => l.event === 'saml-logout' && l.connection === 'sealed');
        assert.deepEqual(lines.map((l) => [l.kind, l.binding, l.verdict]).at(-1), ['LogoutResponse', binding, 'ok']);
        assert.equal(await cookieWorks(cookie), false, 'the Gatehouse session ended');
        assert.equal(await sessionCookie(a.context), undefined, 'session cookie cleared in the browser');
        // The IdP session ended too: signing in again asks for the password.
        await a.page.goto(`${origin}/.gatehouse/saml/sealed/login?rd=${encodeURIComponent('/any/sealed')}`, { timeout: STEP_MS });
        await a.page.waitForSelector('input[name="password"]', { timeout: STEP_MS });
      } finally {
        await a.context.close();
        await idp.registerSp(registration('sealed'));
      }
    });
  }

  it('SLO, IdP-initiated over https: the IdP\'s signed LogoutRequest ends the sealed session and is answered; the plain session this browser held ended when sealed replaced it', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { idp, gh } = running();
    // One browser profile, one IdP session, two Gatehouse sessions: plain (password), then sealed (single sign-on).
    const p = await attempt('plain');
    const context = p.context;
    try {
      await assertLandedAsAlice(p, 'plain');
      const plainCookie = await sessionCookie(context);
      assert.ok(plainCookie && (await cookieWorks(plainCookie)));
      await p.page.goto(`${origin}/.gatehouse/saml/sealed/login?rd=${encodeURIComponent('/any/sealed')}`, { timeout: STEP_MS });
      await p.page.waitForURL(`${origin}/any/sealed`, { timeout: STEP_MS });
      const sealedCookie = await sessionCookie(context);
      assert.ok(sealedCookie && sealedCookie !== plainCookie && (await cookieWorks(sealedCookie)), 'sealed signed in without a password; its cookie replaced plain\'s');
      assert.equal(await cookieWorks(plainCookie), false, 'signing in again in this browser ended the session it replaced');

      const requests: PwRequest[] = [];
      p.page.on('request', (r) => requests.push(r));
      const before = gh.logs.find((l) => l.event === 'saml-logout' || l.event === 'logout-failed').length;
      const idpLogBefore = (await readFile(idp.logFile, 'utf8')).length;
      // Started from a page of the IdP (as a "sign out everywhere" button there), not typed in:
      // so the browser's trip to Gatehouse is a cross-site navigation, as in production.
      await p.page.goto(`${idp.baseUrl}module.php/core/frontpage_welcome.php`, { timeout: STEP_MS });
      const done = idpReturnTo();
      await p.page.evaluate((url) => window.location.assign(url), `${idp.sloUrl}?ReturnTo=${encodeURIComponent(done)}`);
      await p.page.waitForURL(done, { timeout: STEP_MS }).catch(async (err: unknown) => {
        throw new Error(`stuck at ${p.page.url()}: ${(await p.page.textContent('body'))?.replace(/\s+/g, ' ').slice(0, 2000)}\n${gh.logs.text()}`, { cause: err });
      });

      // Gatehouse got exactly one LogoutRequest, for sealed, signed, delivered cross-site with the session cookie.
      const lines = gh.logs.find((l) => l.event === 'saml-logout' || l.event === 'logout-failed').slice(before);
      assert.deepEqual(lines.map((l) => [l.event, l.connection, l.kind, l.verdict, l.ended]), [['saml-logout', 'sealed', 'LogoutRequest', 'ok', 1]], gh.logs.text());
      const into = requests.filter((r) => r.url().startsWith(`${origin}/.gatehouse/`));
      assert.deepEqual(into.map((r) => new URL(r.url()).pathname), [SLO_PATH], 'the IdP sent the browser to sealed\'s SLO endpoint only');
      const inUrl = new URL(into[0]!.url());
      assert.equal(inUrl.searchParams.get('SigAlg'), RSA_SHA256);
      assert.ok(inUrl.searchParams.get('Signature'), 'LogoutRequest signed by the IdP');
      assert.match(redirectXml(inUrl, 'SAMLRequest'), /<samlp:LogoutRequest\b/);
      assert.equal((await into[0]!.allHeaders())['sec-fetch-site'], 'cross-site');
      assert.ok((await cookiesSent(into[0]!)).includes(SESSION_COOKIE), 'the (SameSite=Lax) session cookie rides the top-level cross-site GET');
      assert.equal((await into[0]!.response())?.status(), 302);
      // Our answer: a signed LogoutResponse back at the IdP.
      const answer = requests.find((r) => r.url().startsWith(`${idp.sloUrl}?`) && new URL(r.url()).searchParams.has('SAMLResponse'));
      assert.ok(answer, 'Gatehouse answered the IdP');
      const answerUrl = new URL(answer.url());
      assert.ok(answerUrl.searchParams.get('Signature'));
      const logoutResponse = redirectXml(answerUrl, 'SAMLResponse');
      assert.match(logoutResponse, /StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success"/);
      assert.ok(logoutResponse.includes(`>${origin}/.gatehouse/saml/sealed/metadata</saml:Issuer>`), logoutResponse);

      assert.equal(await cookieWorks(sealedCookie), false, 'the sealed session ended');
      assert.equal(await sessionCookie(context), undefined, 'and its cookie was cleared in the browser');
      // SimpleSAMLphp logs out every SP of its session in turn; plain publishes no SingleLogoutService
      // to it, so it drops that association with a warning and still lands on ReturnTo (no error shown).
      const idpLog = (await readFile(idp.logFile, 'utf8')).slice(idpLogBefore);
      assert.ok(idpLog.includes(`Unable to initialize logout to 'saml:${origin}/.gatehouse/saml/plain/metadata'`), idpLog);
      assert.ok(idpLog.includes(`Sending SAML 2.0 LogoutRequest to: '${origin}/.gatehouse/saml/sealed/metadata'`), idpLog);
      // The IdP session is gone: sealed asks for the password again.
      await p.page.goto(`${origin}/.gatehouse/saml/sealed/login?rd=${encodeURIComponent('/any/sealed')}`, { timeout: STEP_MS });
      await p.page.waitForSelector('input[name="password"]', { timeout: STEP_MS });
    } finally {
      await context.close();
    }
  });

  it('SLO, SP-initiated through sealed while the IdP session also holds plain (no SLO endpoint at the IdP): the IdP answers Success/PartialLogout; Gatehouse ends the sealed session', async (t) => {
    if (skipReason) return t.skip(skipReason);
    const { gh } = running();
    const p = await attempt('plain');
    const context = p.context;
    try {
      await assertLandedAsAlice(p, 'plain');
      const plainCookie = await sessionCookie(context);
      await p.page.goto(`${origin}/.gatehouse/saml/sealed/login?rd=${encodeURIComponent('/any/sealed')}`, { timeout: STEP_MS });
      await p.page.waitForURL(`${origin}/any/sealed`, { timeout: STEP_MS });
      const sealedCookie = await sessionCookie(context);
      assert.ok(plainCookie && sealedCookie && plainCookie !== sealedCookie);
      const requests: PwRequest[] = [];
      p.page.on('request', (r) => requests.push(r));
      await p.page.goto(`${origin}/.gatehouse/logout`, { timeout: STEP_MS });
      await Promise.all([p.page.waitForURL(`${origin}${SLO_PATH}?**`, { timeout: STEP_MS }), p.page.click('button[type="submit"]')]);
      const back = requests.find((r) => r.url().startsWith(`${origin}${SLO_PATH}?`));
      assert.ok(back);
      const xml = redirectXml(new URL(back.url()), 'SAMLResponse');
      // SimpleSAMLphp could not reach plain, so its answer is Success with the PartialLogout sub-status.
      assert.match(xml, /<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:Success">\s*<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2\.0:status:PartialLogout"\s*\/>/, xml);
      assert.equal((await back.response())?.status(), 200);
      const page = (await p.page.textContent('body')) ?? '';
      assert.match(page, /You are signed out/);
      assert.match(page, /could not sign you out of every other application/, 'PartialLogout is not shown as a full sign-out');
      assert.equal(gh.logs.find((l) => l.event === 'saml-logout' && l.connection === 'sealed').at(-1)?.verdict, 'partial-logout');
      assert.equal(gh.logs.find((l) => l.event === 'saml-logout' && l.connection === 'sealed').at(-1)?.kind, 'LogoutResponse');
      assert.equal(await cookieWorks(sealedCookie), false, 'the sealed session ended');
      assert.equal(await cookieWorks(plainCookie), false, 'the plain session ended when the sealed login replaced it in this browser');
    } finally {
      await context.close();
    }
  });
});
