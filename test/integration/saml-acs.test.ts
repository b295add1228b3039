import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { buildSignedResponseXml } from '../helpers/saml-idp-signer.js';
import { addDoctype, duplicateAssertion, injectComment, replaceNameId, stripSignatures, wrapAssertion } from '../helpers/saml-tamper.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP, type StartedLogin } from '../helpers/sp-login.js';
import { ATTACKER_KEYS, IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  upstream = await startTestUpstream();
  const metadata = idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] });
  gh = await startGatehouse({
    files: { 'idp.xml': metadata },
    connections: [
      { id: 'lab', idp_metadata_file: 'idp.xml' },
      { id: 'other', idp_metadata_file: 'idp.xml' },
      { id: 'open', idp_metadata_file: 'idp.xml', idp_initiated: 'accept', default_redirect: '/ml/home' },
    ],
    routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
  });
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

/** Asserts the ACS refused the response: 403 SAML_LOGIN_FAILED, no session, one log line with the reason. */
async function assertRejected(res: Response, reason: string | RegExp): Promise<void> {
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGIN_FAILED/);
  assert.ok(!res.headers.getSetCookie().some((c) => c.startsWith('gatehouse_session=')), 'no session cookie');
  const requestId = res.headers.get('x-request-id');
  const lines = gh.logs.find((l) => l.event === 'login-failed' && l.req_id === requestId);
  assert.equal(lines.length, 1, `one login-failed line for ${requestId}`);
  if (typeof reason === 'string') assert.equal(lines[0]!.reason, reason);
  else assert.match(String(lines[0]!.reason), reason);
  const json = await (await fetch(`${gh.url}/.gatehouse/saml/lab/acs`, { method: 'POST', headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' }, body: 'SAMLResponse=eA==' })).json() as { error: { message: string } };
  assert.ok(body.includes(json.error.message), 'every SAML failure shows the same public message (no oracle)');
}

async function assertSignedIn(jar: CookieJar, user = 'alice@example.com'): Promise<void> {
  const before = upstream.seen.length;
  const res = await jarFetch(jar, `${gh.url}/ml/x`);
  assert.equal(res.status, 200, await res.text());
  assert.equal(upstream.seen.length, before + 1);
  assert.equal(upstream.seen.at(-1)!.headers['x-forwarded-user'], user);
}

describe('SP-initiated login with a response signed by the IdP key', () => {
  test('control: the genuine response signs alice in and lands on rd', async () => {
    const login = await startSpLogin(gh.url, 'lab', { rd: '/ml/notebook?x=1' });
    const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com'));
    assert.equal(res.status, 303, await res.text());
    assert.equal(res.headers.get('location'), '/ml/notebook?x=1');
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('gatehouse_session='))!;
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.doesNotMatch(cookie, /Secure/i, 'plain-http public_url: no Secure flag');
    await assertSignedIn(login.jar);
    assert.equal(gh.logs.find((l) => l.event === 'login' && l.user === 'alice@example.com').length >= 1, true);
  });

  test('session fixation: every login issues a new session id', async () => {
    const first = await startSpLogin(gh.url, 'lab');
    await postResponse(first, genuineResponseXml(first, 'alice@example.com'));
    const a = first.jar.get('gatehouse_session');
    const second = await startSpLogin(gh.url, 'lab', { jar: first.jar });
    await postResponse(second, genuineResponseXml(second, 'alice@example.com'));
    assert.ok(a && first.jar.get('gatehouse_session') && a !== first.jar.get('gatehouse_session'));
  });

  test('response signed and assertion signed: accepted', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { signResponse: true }));
    assert.equal(res.status, 303);
  });

  test('open redirect at login start is refused', async () => {
    for (const rd of ['https://evil.example/', '//evil.example/', '/\\evil.example']) {
      const res = await fetch(`${gh.url}/.gatehouse/saml/lab/login?rd=${encodeURIComponent(rd)}`, { redirect: 'manual' });
      assert.equal(res.status, 400, rd);
      assert.match(await res.text(), /BAD_REDIRECT/);
    }
  });
});

type Attack = { name: string; reason: string | RegExp; run: (login: StartedLogin) => Promise<Response> };
const genuine = (l: StartedLogin, extra = {}) => genuineResponseXml(l, 'alice@example.com', extra);

const ATTACKS: Attack[] = [
  { name: 'NameID changed after signing', reason: 'signature-invalid', run: (l) => postResponse(l, replaceNameId(genuine(l), 'mallory@example.com')) },
  { name: 'signature removed', reason: 'signature-invalid', run: (l) => postResponse(l, stripSignatures(genuine(l))) },
  { name: 'signed by an attacker key (certificate in KeyInfo)', reason: 'signature-invalid', run: (l) => postResponse(l, genuine(l, { keys: ATTACKER_KEYS })) },
  { name: 'signature wrapping (XSW: signed assertion hidden, evil copy in its place)', reason: 'not-exactly-one-assertion', run: (l) => postResponse(l, wrapAssertion(genuine(l), { nameId: 'mallory@example.com' })) },
  { name: 'duplicate assertions', reason: 'not-exactly-one-assertion', run: (l) => postResponse(l, duplicateAssertion(genuine(l), { nameId: 'mallory@example.com' })) },
  { name: 'wrong audience', reason: 'audience-mismatch', run: (l) => postResponse(l, genuine(l, { audience: 'https://other-sp.example/' })) },
  { name: 'wrong Destination', reason: 'destination-mismatch', run: (l) => postResponse(l, genuine(l, { destination: 'https://other-sp.example/acs' })) },
  { name: 'signed response without Destination', reason: 'destination-missing', run: (l) => postResponse(l, genuine(l, { signResponse: true, destination: null })) },
  { name: 'wrong Recipient', reason: 'recipient-mismatch', run: (l) => postResponse(l, genuine(l, { recipient: 'https://other-sp.example/acs' })) },
  { name: 'wrong Issuer in the signed assertion', reason: 'issuer-mismatch', run: (l) => postResponse(l, genuine(l, { assertionIssuer: 'https://evil-idp.example/' })) },
  { name: 'wrong Issuer on the response', reason: 'issuer-mismatch', run: (l) => postResponse(l, genuine(l, { issuer: 'https://evil-idp.example/' })) },
  { name: 'expired assertion', reason: /expired|no-valid-subject-confirmation/, run: (l) => postResponse(l, genuine(l, { now: new Date(Date.now() - 3_600_000) })) },
  { name: 'not-yet-valid assertion', reason: /not-yet-valid/, run: (l) => postResponse(l, genuine(l, { now: new Date(Date.now() + 3_600_000) })) },
  { name: 'SHA-1 signature', reason: 'weak-signature-algorithm', run: (l) => postResponse(l, genuine(l, { signatureAlgorithm: 'sha1', digestAlgorithm: 'sha1' })) },
  { name: 'DTD / entity expansion', reason: 'xml-dtd-present', run: (l) => postResponse(l, addDoctype(genuine(l), '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>')) },
  { name: 'comment injection in NameID', reason: 'xml-comment-present', run: (l) => postResponse(l, injectComment(genuineResponseXml(l, 'alice@example.com.evil.com'))) },
  { name: 'non-success status', reason: 'status-not-success', run: (l) => postResponse(l, genuine(l, { statusCode: 'Responder', includeAssertion: true })) },
  { name: 'InResponseTo of another request', reason: 'in-response-to-mismatch', run: (l) => postResponse(l, buildSignedResponseXml({ idpEntityId: TEST_IDP.entityId, spEntityId: l.spEntityId, acsUrl: l.acsUrl, inResponseTo: '_someone_elses_request', nameId: 'alice@example.com' })) },
  { name: 'SubjectConfirmation InResponseTo differs from the response', reason: /in-response-to/, run: (l) => postResponse(l, genuine(l, { subjectConfirmationInResponseTo: '_other' })) },
  { name: 'login CSRF: response finished in another browser', reason: 'login-started-in-another-browser', run: (l) => postResponse(l, genuine(l), { jar: new CookieJar() }) },
  { name: 'RelayState missing', reason: 'relay-state-missing', run: (l) => postResponse(l, genuine(l), { relayState: null }) },
  { name: 'unsolicited response when IdP-initiated is off', reason: 'unsolicited-response', run: (l) => postResponse(l, buildSignedResponseXml({ idpEntityId: TEST_IDP.entityId, spEntityId: l.spEntityId, acsUrl: l.acsUrl, nameId: 'alice@example.com' }), { relayState: null }) },
  { name: 'response for connection A posted to connection B', reason: 'response-for-another-connection', run: (l) => postResponse(l, genuine(l), { acsUrl: l.acsUrl.replace('/lab/', '/other/') }) },
  { name: 'garbage instead of base64', reason: 'saml-response-not-base64', run: (l) => postResponse(l, '<<not base64>>', { raw: true }) },
  { name: 'base64 of garbage', reason: 'xml-malformed', run: (l) => postResponse(l, Buffer.from('<Response><unclosed>').toString('base64'), { raw: true }) },
];

describe('attacks on the ACS: each refused with no session, one log line, the same public error', () => {
  for (const attack of ATTACKS) {
    test(attack.name, async () => {
      const login = await startSpLogin(gh.url, 'lab');
      const before = upstream.seen.length;
      await assertRejected(await attack.run(login), attack.reason);
      assert.equal(upstream.seen.length, before, 'nothing forwarded');
      const res = await jarFetch(login.jar, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 401, 'the browser is still signed out');
    });
  }

  test('replay: a response already used cannot sign in again', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const xml = genuine(login);
    assert.equal((await postResponse(login, xml)).status, 303);
    await assertRejected(await postResponse(login, xml), 'relay-state-unknown');
    const again = await startSpLogin(gh.url, 'lab', { jar: login.jar });
    await assertRejected(await postResponse(again, xml), 'in-response-to-mismatch');
  });

  test('replay of an unsolicited response on an IdP-initiated connection: assertion ID usable once', async () => {
    const l = await startSpLogin(gh.url, 'open');
    const xml = buildSignedResponseXml({ idpEntityId: TEST_IDP.entityId, spEntityId: l.spEntityId, acsUrl: l.acsUrl, nameId: 'alice@example.com', attributes: { groups: ['ml-engineers'] } });
    const first = await postResponse(l, xml, { relayState: 'https://evil.example/' });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/ml/home', 'a foreign RelayState lands on default_redirect');
    await assertRejected(await postResponse(l, xml, { relayState: null, jar: new CookieJar() }), 'assertion-replayed');
  });

  test('ReDoS: a SAMLResponse of line breaks is refused without blocking the server', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const started = Date.now();
    const attack = postResponse(login, `A${'\n'.repeat(85_000)}!`, { raw: true });
    const health = await fetch(`${gh.url}/.gatehouse/healthz`);
    assert.equal(health.status, 200);
    await assertRejected(await attack, 'saml-response-not-base64');
    assert.ok(Date.now() - started < 3000, 'answered at once, not after the seconds a quadratic regex takes (about 7 s here)');
  });

  test('deeply nested XML is refused (xml-too-deep), not a stack overflow', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const deep = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">${'<a>'.repeat(20_000)}${'</a>'.repeat(20_000)}</samlp:Response>`;
    await assertRejected(await postResponse(login, deep), 'xml-too-deep');
  });

  test('a forged post with a seen RelayState does not cancel the login', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    await assertRejected(await postResponse(login, replaceNameId(genuine(login), 'mallory@example.com')), 'signature-invalid');
    await assertRejected(await postResponse(login, genuine(login), { jar: new CookieJar() }), 'login-started-in-another-browser');
    const res = await postResponse(login, genuine(login));
    assert.equal(res.status, 303, 'the genuine response still signs the user in');
  });

  test('oversized SAMLResponse: 413 before any parsing', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const res = await postResponse(login, 'A'.repeat(300_000), { raw: true });
    assert.equal(res.status, 413);
    assert.match(await res.text(), /BODY_TOO_LARGE/);
  });

  test('GET on the ACS is refused', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/saml/lab/acs?SAMLResponse=x`);
    assert.equal(res.status, 405);
  });

  test('raw assertions and cookies never reach the logs', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const xml = genuine(login);
    await postResponse(login, xml);
    const text = gh.logs.text();
    assert.ok(!text.includes('SAMLResponse'), 'no SAMLResponse field');
    assert.ok(!text.includes(Buffer.from(xml).toString('base64').slice(0, 40)), 'no raw response');
    assert.ok(!text.includes(login.jar.get('gatehouse_session')!), 'no session token');
  });
});

describe('SP metadata', () => {
  test('publishes our entity ID and ACS', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/saml/lab/metadata`);
    assert.equal(res.status, 200);
    const xml = await res.text();
    assert.match(xml, new RegExp(`entityID="${gh.url}/.gatehouse/saml/lab/metadata"`));
    assert.match(xml, new RegExp(`Location="${gh.url}/.gatehouse/saml/lab/acs"`));
    assert.match(xml, /WantAssertionsSigned="true"/);
  });

  test('unknown connection: 404', async () => {
    assert.equal((await fetch(`${gh.url}/.gatehouse/saml/nope/metadata`)).status, 404);
  });
});
