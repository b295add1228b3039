/**
 * Step-up over real sockets, with responses signed by the test IdP's key: a route that needs a
 * stronger class or a recent authentication sends a signed-in browser back through its own
 * connection asking for it, answers other clients 401 STEP_UP_REQUIRED, records why, and the
 * ACS refuses answers that do not give what the login asked for.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { inflateRawSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP, type StartedLogin } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';
const PASSWORD = `${AC}Password`;
const PPT = `${AC}PasswordProtectedTransport`;
const X509 = `${AC}X509`;
const MFA = 'https://refeds.org/profile/mfa';
const SESSION = 'gatehouse_session';

let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  upstream = await startTestUpstream();
  const metadata = idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] });
  gh = await startGatehouse({
    files: { 'idp.xml': metadata },
    connections: [
      { id: 'lab', idp_metadata_file: 'idp.xml' },
      { id: 'strict', idp_metadata_file: 'idp.xml', force_authn: true, authn_context: { classes: [PPT], comparison: 'minimum' } },
    ],
    routes: routes({}),
    // Reloads here are asked for (gh.app.reload()), so the test decides when they happen.
    config: { server: { watch_policies: false } },
  });
});

/** The routes of this suite; `ws` adds to the websocket route (a reload test changes it). */
function routes(ws: Record<string, unknown>): Record<string, unknown>[] {
  return [
    { name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
    { name: 'mfa', path: '/mfa', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], require_authn_context: [X509, MFA] },
    { name: 'recent', path: '/recent', upstream: upstream.url, allow: [{ authenticated: true }], max_authn_age: '15m' },
    { name: 'admins', path: '/admins', upstream: upstream.url, allow: [{ groups: ['admins'] }], require_authn_context: [X509] },
    { name: 'ws', path: '/ws', upstream: upstream.url, allow: [{ authenticated: true }], websockets: true, ...ws },
  ];
}

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

/** The AuthnRequest XML a login URL sends the browser to the IdP with, and the login in flight. */
async function startLoginAt(url: string, jar: CookieJar, connection = 'lab'): Promise<{ login: StartedLogin; xml: string }> {
  const res = await jarFetch(jar, url);
  assert.equal(res.status, 302, await res.text());
  const location = new URL(res.headers.get('location')!);
  const xml = inflateRawSync(Buffer.from(location.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
  const login: StartedLogin = {
    jar,
    requestId: /\sID="([^"]+)"/.exec(xml)![1]!,
    relayState: location.searchParams.get('RelayState')!,
    acsUrl: `${gh.url}/.gatehouse/saml/${connection}/acs`,
    spEntityId: `${gh.url}/.gatehouse/saml/${connection}/metadata`,
  };
  return { login, xml };
}

/** Signs alice in through `lab` with the given class and AuthnInstant; returns her browser. */
async function signedIn(classRef = PPT, authnInstant?: Date): Promise<CookieJar> {
  const login = await startSpLogin(gh.url, 'lab');
  const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { authnContextClassRef: classRef, authnInstant }));
  assert.equal(res.status, 303, await res.text());
  return login.jar;
}

/** A browser navigation (fetch cannot send `Sec-Fetch-Mode: navigate`): status, Location, request id. */
function navigate(jar: CookieJar, url: string): Promise<{ status: number; location?: string; requestId?: string }> {
  return new Promise((resolve, reject) => {
    const cookie = jar.header();
    const req = request(url, { headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', ...(cookie ? { cookie } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, requestId: res.headers['x-request-id'] as string | undefined }));
    });
    req.once('error', reject);
    req.end();
  });
}

function sessionCookieOf(res: Response): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION}=`))?.split(';')[0];
}

async function assertRefusedAtAcs(res: Response, reason: string): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGIN_FAILED/);
  assert.equal(sessionCookieOf(res), undefined, 'no session');
  const lines = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === res.headers.get('x-request-id'));
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.reason, reason);
}

describe('a route that needs a stronger authentication context', () => {
  test('a non-browser client of a password session gets 401 STEP_UP_REQUIRED with the step-up login, and the decision says why', async () => {
    const jar = await signedIn(PPT);
    assert.equal((await jarFetch(jar, `${gh.url}/ml/a`)).status, 200, 'control: the same session passes a route without a requirement');
    const seen = upstream.seen.length;
    const res = await jarFetch(jar, `${gh.url}/mfa/run?x=1`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    const body = (await res.json()) as { error: { code: string; reason: string; login_url: string } };
    assert.equal(body.error.code, 'STEP_UP_REQUIRED');
    assert.equal(body.error.reason, 'authn-context-insufficient');
    assert.equal(body.error.login_url, `${gh.url}/.gatehouse/saml/lab/login?rd=${encodeURIComponent('/mfa/run?x=1')}&step_up=mfa`);
    assert.match(res.headers.get('www-authenticate') ?? '', /login_url="[^"]+step_up=mfa"/);
    assert.equal(upstream.seen.length, seen, 'nothing forwarded');
    const decision = gh.logs.find((l) => l.event === 'decision' && l.req_id === res.headers.get('x-request-id'));
    assert.equal(decision.length, 1);
    assert.equal(decision[0]!.decision, 'deny');
    assert.deepEqual(decision[0]!.reasons, ['groups-ok', 'step-up-required', 'authn-context-insufficient']);
    assert.deepEqual(decision[0]!.step_up, { have_class: PPT, want_class: [X509, MFA] });
  });

  test('a browser is sent to log in again through the same connection asking for the classes (exact), and a new session gets through', async () => {
    const jar = await signedIn(PPT);
    const oldCookie = jar.get(SESSION);
    const res = await navigate(jar, `${gh.url}/mfa/run`);
    assert.equal(res.status, 302);
    const url = res.location!;
    assert.equal(url, `${gh.url}/.gatehouse/saml/lab/login?rd=%2Fmfa%2Frun&step_up=mfa`);
    const { login, xml } = await startLoginAt(url, jar);
    assert.match(xml, /<samlp:RequestedAuthnContext[^>]*Comparison="exact"/);
    assert.deepEqual([...xml.matchAll(/<saml:AuthnContextClassRef[^>]*>([^<]+)</g)].map((m) => m[1]), [X509, MFA]);
    assert.doesNotMatch(xml, /ForceAuthn/, 'the login is recent: no ForceAuthn');
    const done = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { authnContextClassRef: MFA }));
    assert.equal(done.status, 303, await done.text());
    assert.equal(done.headers.get('location'), '/mfa/run', 'the return path is kept');
    const fresh = sessionCookieOf(done);
    assert.ok(fresh && oldCookie && fresh !== `${SESSION}=${oldCookie}`, 'a new session id');
    const seen = upstream.seen.length;
    assert.equal((await jarFetch(jar, `${gh.url}/mfa/run`)).status, 200);
    assert.equal(upstream.seen.length, seen + 1);
  });

  test('a step-up response claiming a weaker context than asked is refused: no session, the old one still cannot pass', async () => {
    const jar = await signedIn(PPT);
    const { login } = await startLoginAt(`${gh.url}/.gatehouse/saml/lab/login?rd=%2Fmfa&step_up=mfa`, jar);
    const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { authnContextClassRef: PPT }));
    await assertRefusedAtAcs(res, 'authn-context-not-satisfied');
    const again = await jarFetch(jar, `${gh.url}/mfa/x`, { headers: { accept: 'application/json' } });
    assert.equal(again.status, 401);
    assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'STEP_UP_REQUIRED');
  });

  test('a policy denial stays a denial: no step-up is offered to someone the route refuses anyway', async () => {
    const jar = await signedIn(PPT);
    const res = await navigate(jar, `${gh.url}/admins/x`);
    assert.equal(res.status, 403);
  });

  test('nobody signed in: the usual sign-in (401 AUTHENTICATION_REQUIRED), not a step-up', async () => {
    const res = await fetch(`${gh.url}/mfa/x`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'AUTHENTICATION_REQUIRED');
  });

  test('step_up naming no route with a requirement is refused (the classes come from the policy only)', async () => {
    for (const name of ['nope', 'ml']) {
      const res = await fetch(`${gh.url}/.gatehouse/saml/lab/login?rd=%2F&step_up=${name}`);
      assert.equal(res.status, 400, name);
    }
  });
});

describe('a route that needs a recent authentication (max_authn_age)', () => {
  const old = () => new Date(Date.now() - 20 * 60_000);

  test('an old login is sent back with ForceAuthn; an IdP reusing its old SSO session is refused; a fresh login passes', async () => {
    const jar = await signedIn(PPT, old());
    assert.equal((await jarFetch(jar, `${gh.url}/ml/a`)).status, 200, 'control: other routes do not care about age');
    const res = await navigate(jar, `${gh.url}/recent/q`);
    assert.equal(res.status, 302);
    const url = res.location!;
    assert.equal(url, `${gh.url}/.gatehouse/saml/lab/login?rd=%2Frecent%2Fq&step_up=recent&fresh=1`);
    const decision = gh.logs.find((l) => l.event === 'decision' && l.req_id === res.requestId)[0]!;
    assert.deepEqual(decision.reasons, ['authenticated', 'step-up-required', 'authn-too-old']);
    assert.equal(decision.step_up && (decision.step_up as { max_age_s: number }).max_age_s, 900);

    const first = await startLoginAt(url, jar);
    assert.match(first.xml, /ForceAuthn="true"/);
    assert.doesNotMatch(first.xml, /RequestedAuthnContext/, 'the route names no classes: none requested');
    const reused = await postResponse(first.login, genuineResponseXml(first.login, 'alice@example.com', { authnInstant: old() }));
    await assertRefusedAtAcs(reused, 'authn-not-fresh');

    const second = await startLoginAt(url, jar);
    const done = await postResponse(second.login, genuineResponseXml(second.login, 'alice@example.com'));
    assert.equal(done.status, 303, await done.text());
    assert.equal(done.headers.get('location'), '/recent/q');
    assert.equal((await jarFetch(jar, `${gh.url}/recent/q`)).status, 200);
  });
});

describe("a connection's own force_authn and authn_context", () => {
  test('every AuthnRequest carries them, and the answer must satisfy them', async () => {
    const jar = new CookieJar();
    const { login, xml } = await startLoginAt(`${gh.url}/.gatehouse/saml/strict/login?rd=%2Fml`, jar, 'strict');
    assert.match(xml, /ForceAuthn="true"/);
    assert.match(xml, /Comparison="minimum"/);
    assert.match(xml, new RegExp(`>${PPT}<`));
    const weaker = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { authnContextClassRef: PASSWORD }));
    await assertRefusedAtAcs(weaker, 'authn-context-not-satisfied');
    const stronger = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { authnContextClassRef: X509 }));
    assert.equal(stronger.status, 303, 'X509 is at least PasswordProtectedTransport');
  });

  test('a connection without them asks for nothing, as before (no RequestedAuthnContext, no ForceAuthn)', async () => {
    const { xml } = await startLoginAt(`${gh.url}/.gatehouse/saml/lab/login?rd=%2Fml`, new CookieJar());
    assert.doesNotMatch(xml, /RequestedAuthnContext|ForceAuthn/);
  });
});

describe('websockets', () => {
  /** Opens a websocket with the jar's cookie; resolves once open, or with the refusal's status. */
  function openSocket(jar: CookieJar): Promise<{ ws?: WebSocket; status?: number; closed?: Promise<void> }> {
    const ws = new WebSocket(`${gh.url.replace('http', 'ws')}/ws/feed`, { headers: { cookie: jar.header()! } });
    ws.on('error', () => {});
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    return new Promise((resolve) => {
      ws.once('open', () => resolve({ ws, closed }));
      ws.once('unexpected-response', (_req, res) => {
        resolve({ status: res.statusCode });
        ws.terminate();
      });
    });
  }

  test('a reload that makes the route require a class closes the open sockets of sessions without it, and new handshakes get 401', async () => {
    const jar = await signedIn(PPT);
    const open = await openSocket(jar);
    assert.ok(open.ws, 'control: the handshake passes before the reload');
    try {
      writeFileSync(join(gh.dir, 'policies', 'routes.yaml'), stringify({ routes: routes({ require_authn_context: [X509] }) }));
      await gh.app.reload();
      await Promise.race([open.closed, sleep(3_000)]);
      assert.equal(open.ws.readyState, WebSocket.CLOSED, 'the open socket was closed');
      const revoked = gh.logs.find((l) => l.event === 'upgrade-revoked' && l.route === 'ws');
      assert.equal(revoked.length, 1);
      assert.equal(revoked[0]!.reason, 'step-up-required,authn-context-insufficient');
      assert.equal((await openSocket(jar)).status, 401, 'a new handshake is refused with STEP_UP_REQUIRED');
      const x509 = await signedIn(X509);
      const again = await openSocket(x509);
      assert.ok(again.ws, 'control: a session with the class opens one');
      again.ws.terminate();
    } finally {
      open.ws.terminate();
    }
  });
});
