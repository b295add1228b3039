/**
 * IdP-initiated login, per connection: `idp_initiated: refuse | restart | accept`.
 *
 * The attack each mode is judged by is login CSRF through an unsolicited response: the attacker
 * gets a genuine, signed response for their own account (they can sign in at the IdP too) and
 * makes the victim's browser post it to our ACS. With no InResponseTo there is nothing binding
 * it to that browser, so `accept` signs the victim in as the attacker (whatever the victim then
 * uploads lands in the attacker's account). `refuse` refuses it; `restart` verifies it, then
 * signs nobody in and sends the browser through a fresh SP-initiated login bound to it, so the
 * victim ends up signed in as themselves, or not at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { buildSignedResponseXml } from '../helpers/saml-idp-signer.js';
import { replaceNameId } from '../helpers/saml-tamper.js';
import { genuineResponseXml, loginFromIdpRedirect, postResponse, startSpLogin, TEST_IDP, type StartedLogin } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [
      { id: 'refuse', idp_metadata_file: 'idp.xml' },
      { id: 'restart', idp_metadata_file: 'idp.xml', idp_initiated: 'restart', default_redirect: '/ml/home' },
      { id: 'accept', idp_metadata_file: 'idp.xml', idp_initiated: 'accept', default_redirect: '/ml/home' },
    ],
    routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
  });
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

/** The attacker's own genuine, signed, unsolicited response (no InResponseTo) for a connection. */
function plantedResponse(connection: string, nameId = 'mallory@example.com'): string {
  return buildSignedResponseXml({
    idpEntityId: TEST_IDP.entityId,
    spEntityId: `${gh.url}/.gatehouse/saml/${connection}/metadata`,
    acsUrl: `${gh.url}/.gatehouse/saml/${connection}/acs`,
    nameId,
    attributes: { email: [nameId], groups: ['ml-engineers'] },
  });
}

/** The victim's browser posting a response to a connection's ACS (a fresh jar: no prior login). */
function victimPosts(connection: string, xml: string, relayState: string | null, jar = new CookieJar()): Promise<Response> {
  const login: StartedLogin = { jar, requestId: '', relayState: '', acsUrl: `${gh.url}/.gatehouse/saml/${connection}/acs`, spEntityId: '' };
  return postResponse(login, xml, { relayState });
}

const sessionCookie = (res: Response) => res.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session='));
const logLine = (res: Response) => gh.logs.find((l) => l.req_id === res.headers.get('x-request-id') && (l.event === 'login-failed' || l.event === 'login' || l.event === 'login-restarted'));

async function assertRefused(res: Response, reason: string): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGIN_FAILED/);
  assert.ok(!sessionCookie(res), 'no session cookie');
  const lines = logLine(res);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.reason, reason);
}

async function signedInAs(jar: CookieJar): Promise<string | undefined> {
  const res = await jarFetch(jar, `${gh.url}/.gatehouse/userinfo`);
  return res.status === 200 ? ((await res.json()) as { user: string }).user : undefined;
}

/** Follows a restart through our login endpoint and reads the AuthnRequest it sent the browser to the IdP with. */
async function restartedLogin(res: Response, jar: CookieJar, connection: string): Promise<StartedLogin> {
  const hop = await jarFetch(jar, new URL(res.headers.get('location')!, gh.url).href);
  assert.equal(hop.status, 302, await hop.text());
  return loginFromIdpRedirect(hop.headers.get('location')!, jar, gh.url, connection);
}

describe('idp_initiated: refuse (the default)', () => {
  test('login CSRF through an unsolicited response: refused, no session', async () => {
    const jar = new CookieJar();
    await assertRefused(await victimPosts('refuse', plantedResponse('refuse'), '/ml/x', jar), 'unsolicited-response');
    assert.equal(await signedInAs(jar), undefined);
  });

  test('replay: the same unsolicited response is refused every time', async () => {
    const xml = plantedResponse('refuse');
    await assertRefused(await victimPosts('refuse', xml, null), 'unsolicited-response');
    await assertRefused(await victimPosts('refuse', xml, null), 'unsolicited-response');
  });

  test('control: SP-initiated logins work', async () => {
    const login = await startSpLogin(gh.url, 'refuse');
    assert.equal((await postResponse(login, genuineResponseXml(login, 'alice@example.com'))).status, 303);
    assert.equal(await signedInAs(login.jar), 'alice@example.com');
  });
});

describe('idp_initiated: restart', () => {
  test('login CSRF through an unsolicited response: nobody is signed in; a fresh SP-initiated login starts instead', async () => {
    const jar = new CookieJar();
    const res = await victimPosts('restart', plantedResponse('restart'), '/ml/notebook?x=1', jar);
    assert.equal(res.status, 303, await res.text());
    assert.ok(!sessionCookie(res), 'no session cookie');
    assert.equal(await signedInAs(jar), undefined, 'the victim is not signed in as the attacker');
    const hop = new URL(res.headers.get('location')!, gh.url);
    assert.equal(`${hop.origin}${hop.pathname}`, `${gh.url}/.gatehouse/saml/restart/login`, 'through our own login endpoint (a same-site GET)');
    const login = await restartedLogin(res, jar, 'restart');
    assert.ok(login.requestId && login.relayState, 'sent to the IdP with a new AuthnRequest');
    assert.ok(jar.get('gatehouse_login'), 'bound to this browser by the login cookie');
    assert.equal(logLine(res)[0]!.event, 'login-restarted');
    const before = upstream.seen.length;
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } })).status, 401);
    assert.equal(upstream.seen.length, before, 'nothing forwarded');
  });

  test('the restarted login signs the victim in as themselves and lands on the RelayState route', async () => {
    const jar = new CookieJar();
    const res = await victimPosts('restart', plantedResponse('restart'), '/ml/notebook?x=1', jar);
    const login = await restartedLogin(res, jar, 'restart');
    const done = await postResponse(login, genuineResponseXml(login, 'victim@example.com'));
    assert.equal(done.status, 303, await done.text());
    assert.equal(done.headers.get('location'), '/ml/notebook?x=1');
    assert.equal(await signedInAs(jar), 'victim@example.com');
  });

  test('a RelayState that is not one of our routes lands on default_redirect', async () => {
    const jar = new CookieJar();
    const login = await restartedLogin(await victimPosts('restart', plantedResponse('restart'), 'https://evil.example/', jar), jar, 'restart');
    const done = await postResponse(login, genuineResponseXml(login, 'victim@example.com'));
    assert.equal(done.headers.get('location'), '/ml/home');
  });

  test('the attacker cannot finish the restarted login in their own browser (it is bound to the victim\'s)', async () => {
    const victim = new CookieJar();
    const login = await restartedLogin(await victimPosts('restart', plantedResponse('restart'), '/ml/x', victim), victim, 'restart');
    await assertRefused(await postResponse(login, genuineResponseXml(login, 'mallory@example.com'), { jar: new CookieJar() }), 'login-started-in-another-browser');
  });

  test('restart verifies first: a forged unsolicited response is refused, not restarted', async () => {
    await assertRefused(await victimPosts('restart', replaceNameId(plantedResponse('restart'), 'admin@example.com'), '/ml/x'), 'signature-invalid');
  });

  test('replay: an unsolicited response used once is refused the second time', async () => {
    const xml = plantedResponse('restart');
    assert.equal((await victimPosts('restart', xml, '/ml/x')).status, 303);
    await assertRefused(await victimPosts('restart', xml, '/ml/x'), 'assertion-replayed');
  });

  test('control: SP-initiated logins work as usual', async () => {
    const login = await startSpLogin(gh.url, 'restart', { rd: '/ml/y' });
    const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com'));
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/ml/y');
    assert.equal(await signedInAs(login.jar), 'alice@example.com');
  });
});

describe('idp_initiated: accept (the documented trade-off)', () => {
  test('login CSRF through an unsolicited response: accept signs the victim in as the attacker', async () => {
    const jar = new CookieJar();
    const res = await victimPosts('accept', plantedResponse('accept'), '/ml/x', jar);
    assert.equal(res.status, 303, await res.text());
    assert.equal(await signedInAs(jar), 'mallory@example.com', 'this is why accept is not the default');
  });

  test('replay: an unsolicited response signs in once only', async () => {
    const xml = plantedResponse('accept');
    assert.equal((await victimPosts('accept', xml, null)).status, 303);
    await assertRefused(await victimPosts('accept', xml, null), 'assertion-replayed');
  });

  test('an unsolicited response for another connection is refused (Destination)', async () => {
    await assertRefused(await victimPosts('accept', plantedResponse('restart'), null), 'destination-mismatch');
  });
});
