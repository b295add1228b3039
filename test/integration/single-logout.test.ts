/**
 * SAML Single Logout through a running Gatehouse (in-process, memory store), the test playing the
 * IdP. Each refusal is named after the attack it stops and checks: SAML_LOGOUT_FAILED, the victim's
 * session still works, one log line with the reason. The controls use the same genuine messages.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import {
  idpMetadataWithSlo,
  logoutRequestXml,
  logoutResponseXml,
  postField,
  postSignatureValid,
  readRedirect,
  redirectQuery,
  type IdpLogoutRequest,
} from '../helpers/saml-logout-idp.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { ATTACKER_KEYS, IDP_KEYS, SP_KEYS } from '../helpers/test-keys.js';

const IDP_SLO = 'https://idp.test.example/slo';
const COOKIE = 'gatehouse_session';
let gh: RunningGatehouse;
const sloOf = (conn: string) => `${gh.url}/.gatehouse/saml/${conn}/slo`;

before(async () => {
  const metadata = idpMetadataWithSlo({ ...TEST_IDP, sloUrl: IDP_SLO, certBase64s: [IDP_KEYS.certBase64] });
  gh = await startGatehouse({
    files: { 'idp.xml': metadata, 'sp.key': SP_KEYS.privateKeyPem, 'sp.crt': SP_KEYS.certPem },
    config: { saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }] } },
    connections: [
      { id: 'lab', idp_metadata_file: 'idp.xml' },
      { id: 'other', idp_metadata_file: 'idp.xml' },
      { id: 'local', idp_metadata_file: 'idp.xml', single_logout: false },
    ],
    routes: [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ authenticated: true }] }],
  });
});
after(() => gh?.stop());

/** Signs `email` in through `conn`; returns the browser and the login's SessionIndex. */
async function signIn(email: string, conn = 'lab', sessionIndex = `_si${Math.random().toString(16).slice(2)}`): Promise<{ jar: CookieJar; sessionIndex: string }> {
  const login = await startSpLogin(gh.url, conn);
  const res = await postResponse(login, genuineResponseXml(login, email, { sessionIndex }));
  assert.equal(res.status, 303, await res.text());
  return { jar: login.jar, sessionIndex };
}

async function signedIn(jar: CookieJar): Promise<boolean> {
  const res = await jarFetch(jar, `${gh.url}/.gatehouse/userinfo`);
  await res.arrayBuffer();
  return res.status === 200;
}

const genuine = (email: string, extra: Partial<IdpLogoutRequest> = {}, conn = 'lab') =>
  logoutRequestXml({ issuer: TEST_IDP.entityId, destination: sloOf(conn), nameId: email, ...extra });

/** Sends a LogoutRequest by the Redirect binding from a fresh browser (the IdP's redirect). */
const viaRedirect = (query: string, conn = 'lab', jar = new CookieJar()) => jarFetch(jar, `${sloOf(conn)}?${query}`, { headers: { accept: 'text/html' } });
const viaPost = (field: string, conn = 'lab', relayState?: string) =>
  jarFetch(new CookieJar(), sloOf(conn), { method: 'POST', body: new URLSearchParams({ SAMLRequest: field, ...(relayState ? { RelayState: relayState } : {}) }) });

/** A refusal: coded, the victim still signed in, one log line with this reason. */
async function assertRefused(send: () => Promise<Response>, reason: string, victim: CookieJar): Promise<void> {
  const before = gh.logs.find((l) => l.event === 'logout-failed').length;
  const res = await send();
  const body = await res.text();
  assert.equal(res.status, 403, body);
  assert.match(body, /SAML_LOGOUT_FAILED/);
  assert.ok(await signedIn(victim), 'the session named in the refused message still works');
  const lines = gh.logs.find((l) => l.event === 'logout-failed').slice(before);
  assert.deepEqual(lines.map((l) => l.reason), [reason], `one log line, reason ${reason}:\n${gh.logs.text()}`);
}

describe('IdP-initiated LogoutRequest', () => {
  test('control (Redirect): ends every session of the named user, another user survives, answered with a signed LogoutResponse', async () => {
    const a1 = await signIn('alice-r@example.com');
    const a2 = await signIn('alice-r@example.com');
    const bob = await signIn('bob-r@example.com');
    const { id, xml } = genuine('alice-r@example.com');
    const res = await viaRedirect(redirectQuery('SAMLRequest', xml, { relayState: 'idp-state-1' }));
    assert.equal(res.status, 302, await res.text());
    const answer = readRedirect(res.headers.get('location')!, SP_KEYS.certPem);
    assert.equal(answer.location, IDP_SLO);
    assert.ok(answer.signatureValid, 'our LogoutResponse is signed with the SP key');
    assert.equal(answer.sigAlg, 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    assert.equal(answer.relayState, 'idp-state-1');
    assert.match(answer.xml, new RegExp(`InResponseTo="${id}"`));
    assert.match(answer.xml, new RegExp(`Destination="${IDP_SLO}"`));
    assert.match(answer.xml, /StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/);
    assert.equal(await signedIn(a1.jar), false);
    assert.equal(await signedIn(a2.jar), false);
    assert.equal(await signedIn(bob.jar), true, "another user's session survives");
    const line = gh.logs.find((l) => l.event === 'saml-logout' && l.kind === 'LogoutRequest').at(-1);
    assert.equal(line?.ended, 2);
  });

  test('control (POST, SessionIndex): only that session of the user ends; answered by an auto-submitted signed form', async () => {
    const first = await signIn('alice-p@example.com');
    const second = await signIn('alice-p@example.com');
    const { id, xml } = genuine('alice-p@example.com', { sessionIndexes: [first.sessionIndex] });
    const res = await viaPost(postField(xml), 'lab', 'rs-2');
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.match(res.headers.get('content-security-policy')!, /form-action https:\/\/idp\.test\.example/);
    const action = /<form id="f" method="post" action="([^"]+)"/.exec(body)?.[1];
    assert.equal(action, IDP_SLO);
    const field = /name="SAMLResponse" value="([^"]+)"/.exec(body)![1]!;
    const answer = Buffer.from(field, 'base64').toString('utf8');
    assert.ok(postSignatureValid(answer, SP_KEYS.certPem), 'XML signature of our LogoutResponse verifies with the SP cert');
    assert.match(answer, new RegExp(`InResponseTo="${id}"`));
    assert.match(body, /name="RelayState" value="rs-2"/);
    assert.equal(await signedIn(first.jar), false, 'the session of that SessionIndex ended');
    assert.equal(await signedIn(second.jar), true, 'another session of the same user survives');
  });

  test('a browser whose own session is ended gets its cookie cleared', async () => {
    const me = await signIn('carol@example.com');
    const res = await viaRedirect(redirectQuery('SAMLRequest', genuine('carol@example.com').xml), 'lab', me.jar);
    assert.equal(res.status, 302);
    assert.ok(res.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=;`)), 'session cookie cleared');
  });

  test('audit trail: an accepted and a forged LogoutRequest are both recorded with their verdict, code and request id', async () => {
    const victim = await signIn('audited@example.com');
    const forged = await viaRedirect(redirectQuery('SAMLRequest', genuine('audited@example.com').xml, { keys: null }));
    assert.equal(forged.status, 403);
    const accepted = await viaRedirect(redirectQuery('SAMLRequest', genuine('audited@example.com').xml));
    assert.equal(accepted.status, 302);
    assert.equal(await signedIn(victim.jar), false);
    await gh.app.context.samlAudit.settled();
    const { entries } = await gh.app.context.samlAudit.list({ kind: 'logout-request', limit: 100 });
    const byReq = (res: Response) => entries.find((e) => e.req_id === res.headers.get('x-request-id'));
    const refused = byReq(forged);
    assert.equal(refused?.verdict, 'refused');
    assert.equal(refused?.code, 'SAML_LOGOUT_FAILED');
    assert.equal(refused?.reason, 'redirect-unsigned');
    assert.equal(refused?.claims_verified, false);
    const ok = byReq(accepted);
    assert.equal(ok?.verdict, 'accepted');
    assert.equal(ok?.reason, 'logout-ok-ended-1');
    assert.equal(ok?.claims.name_id, 'audited@example.com');
    assert.equal(ok?.connection, 'lab');
  });

  test('forged logout of someone else: an unsigned Redirect LogoutRequest is refused', async () => {
    const victim = await signIn('victim1@example.com');
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', genuine('victim1@example.com').xml, { keys: null })), 'redirect-unsigned', victim.jar);
  });

  test('forged logout of someone else: an unsigned POST LogoutRequest is refused', async () => {
    const victim = await signIn('victim2@example.com');
    await assertRefused(() => viaPost(postField(genuine('victim2@example.com').xml, { keys: null })), 'post-unsigned', victim.jar);
  });

  test('LogoutRequest signed by another key (Redirect) is refused', async () => {
    const victim = await signIn('victim3@example.com');
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', genuine('victim3@example.com').xml, { keys: ATTACKER_KEYS })), 'redirect-signature-invalid', victim.jar);
  });

  test('LogoutRequest signed by another key with its certificate in KeyInfo (POST) is refused', async () => {
    const victim = await signIn('victim4@example.com');
    await assertRefused(() => viaPost(postField(genuine('victim4@example.com').xml, { keys: ATTACKER_KEYS })), 'post-signature-invalid', victim.jar);
  });

  test('query tampered after signing (NameID swapped for another user) is refused', async () => {
    const victim = await signIn('victim5@example.com');
    const signed = redirectQuery('SAMLRequest', genuine('nobody@example.com').xml);
    const forgedMessage = redirectQuery('SAMLRequest', genuine('victim5@example.com').xml, { keys: null });
    const tampered = `${forgedMessage}&${signed.slice(signed.indexOf('SigAlg='))}`;
    await assertRefused(() => viaRedirect(tampered), 'redirect-signature-invalid', victim.jar);
  });

  test('signature wrapping (POST): an IdP-signed request for another user tucked inside a forged one is refused', async () => {
    const victim = await signIn('victim-xsw1@example.com');
    const signed = Buffer.from(postField(genuine('nobody@example.com').xml), 'base64').toString('utf8');
    const forged = genuine('victim-xsw1@example.com').xml.replace('</samlp:LogoutRequest>', `<samlp:Extensions>${signed}</samlp:Extensions></samlp:LogoutRequest>`);
    await assertRefused(() => viaPost(Buffer.from(forged).toString('base64')), 'post-unsigned', victim.jar);
  });

  test('signature wrapping (POST): the signature moved onto a forged root with the same ID is refused', async () => {
    const victim = await signIn('victim-xsw2@example.com');
    const id = '_xsw2' + Date.now();
    const signed = Buffer.from(postField(genuine('nobody@example.com', { id }).xml), 'base64').toString('utf8');
    const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
    const forged = genuine('victim-xsw2@example.com', { id }).xml.replace('</saml:Issuer>', `</saml:Issuer>${signature}`).replace('</samlp:LogoutRequest>', `<samlp:Extensions>${signed.replace(signature, '')}</samlp:Extensions></samlp:LogoutRequest>`);
    await assertRefused(() => viaPost(Buffer.from(forged).toString('base64')), 'post-signature-invalid', victim.jar);
  });

  test('LogoutRequest for a NameID the IdP issued to another SP (SPNameQualifier) is refused', async () => {
    const victim = await signIn('victim-spnq@example.com');
    const xml = genuine('victim-spnq@example.com', { spNameQualifier: 'https://other-sp.example/metadata' }).xml;
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', xml)), 'name-id-for-another-sp', victim.jar);
  });

  test('control: a LogoutRequest whose SPNameQualifier is ours is accepted', async () => {
    const me = await signIn('spnq-ok@example.com');
    const xml = genuine('spnq-ok@example.com', { spNameQualifier: `${gh.url}/.gatehouse/saml/lab/metadata` }).xml;
    const res = await viaRedirect(redirectQuery('SAMLRequest', xml));
    assert.equal(res.status, 302, await res.text());
    assert.equal(await signedIn(me.jar), false);
  });

  test('LogoutRequest with a wrong Issuer (signed by the IdP key) is refused', async () => {
    const victim = await signIn('victim6@example.com');
    const xml = genuine('victim6@example.com', { issuer: 'https://evil.example/idp' }).xml;
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', xml)), 'issuer-mismatch', victim.jar);
  });

  test('LogoutRequest with a wrong Destination is refused', async () => {
    const victim = await signIn('victim7@example.com');
    const xml = genuine('victim7@example.com', { destination: 'https://other-sp.example/slo' }).xml;
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', xml)), 'destination-mismatch', victim.jar);
  });

  test('LogoutRequest past its NotOnOrAfter (beyond the clock skew) is refused', async () => {
    const victim = await signIn('victim8@example.com');
    const xml = genuine('victim8@example.com', { nowMs: Date.now() - 10 * 60_000, lifetimeSeconds: 60 }).xml;
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', xml)), 'logout-request-expired', victim.jar);
  });

  test('replayed LogoutRequest ID is refused (a captured logout cannot end the next login)', async () => {
    await signIn('victim9@example.com');
    const query = redirectQuery('SAMLRequest', genuine('victim9@example.com').xml);
    const first = await viaRedirect(query);
    assert.equal(first.status, 302);
    const again = await signIn('victim9@example.com');
    await assertRefused(() => viaRedirect(query), 'logout-request-replayed', again.jar);
  });

  test('SHA-1 SigAlg (Redirect) is refused', async () => {
    const victim = await signIn('victim10@example.com');
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', genuine('victim10@example.com').xml, { alg: 'sha1' })), 'redirect-weak-or-unknown-sig-alg', victim.jar);
  });

  test('SHA-1 XML signature (POST) is refused', async () => {
    const victim = await signIn('victim11@example.com');
    await assertRefused(() => viaPost(postField(genuine('victim11@example.com').xml, { alg: 'sha1' })), 'weak-signature-algorithm', victim.jar);
  });

  test('XSLT transform in the XML signature (POST) is refused before any signature work', async () => {
    const victim = await signIn('victim-xslt@example.com');
    const signed = Buffer.from(postField(genuine('victim-xslt@example.com').xml), 'base64').toString('utf8');
    const xslt = signed.replace('<ds:Transforms>', '<ds:Transforms><ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116"/>');
    assert.notEqual(xslt, signed, 'the transform went in');
    await assertRefused(() => viaPost(Buffer.from(xslt).toString('base64')), 'signature-transform-not-allowed', victim.jar);
  });

  test("a LogoutRequest for connection A sent to B's endpoint is refused", async () => {
    const victim = await signIn('victim12@example.com', 'other');
    const xml = genuine('victim12@example.com', {}, 'lab').xml;
    await assertRefused(() => viaRedirect(redirectQuery('SAMLRequest', xml), 'other'), 'destination-mismatch', victim.jar);
  });

  test("a genuine LogoutRequest at B ends B's sessions of that user only, not A's", async () => {
    const atA = await signIn('dual@example.com', 'lab');
    const atB = await signIn('dual@example.com', 'other');
    const res = await viaRedirect(redirectQuery('SAMLRequest', genuine('dual@example.com', {}, 'other').xml), 'other');
    assert.equal(res.status, 302);
    assert.equal(await signedIn(atB.jar), false);
    assert.equal(await signedIn(atA.jar), true);
  });

  test('a repeated binding parameter (two SAMLRequest) is refused', async () => {
    const victim = await signIn('victim13@example.com');
    const q = redirectQuery('SAMLRequest', genuine('victim13@example.com').xml);
    await assertRefused(() => viaRedirect(`${q}&SAMLRequest=x`), 'redirect-parameter-repeated', victim.jar);
  });

  test('NameID whitespace mismatch: a padded NameID is compared exactly; a trimmed one ends nothing, is answered Success and logged at warn', async () => {
    const nameId = ' alice-ws@example.com ';
    const login = await startSpLogin(gh.url, 'lab');
    const res = await postResponse(login, genuineResponseXml(login, nameId, { attributes: { email: ['alice-ws@example.com'] } }));
    assert.equal(res.status, 303, await res.text());
    // The trimmed NameID is another NameID (SAML core 8.3): nobody's session ends, and the line says so.
    const trimmed = await viaRedirect(redirectQuery('SAMLRequest', genuine('alice-ws@example.com').xml));
    assert.equal(trimmed.status, 302);
    assert.match(readRedirect(trimmed.headers.get('location')!, SP_KEYS.certPem).xml, /StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/);
    assert.equal(await signedIn(login.jar), true);
    const none = gh.logs.find((l) => l.event === 'saml-logout' && l.req_id === trimmed.headers.get('x-request-id'));
    assert.deepEqual(none.map((l) => [l.level, l.ended]), [['warn', 0]]);
    // The NameID exactly as the login's assertion carried it ends that session (before the fix: Success, session alive).
    const exact = await viaRedirect(redirectQuery('SAMLRequest', genuine(nameId).xml));
    assert.equal(exact.status, 302);
    assert.match(readRedirect(exact.headers.get('location')!, SP_KEYS.certPem).xml, /StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/);
    assert.equal(await signedIn(login.jar), false, 'the session the IdP was told ended has ended');
    const ended = gh.logs.find((l) => l.event === 'saml-logout' && l.req_id === exact.headers.get('x-request-id'));
    assert.deepEqual(ended.map((l) => [l.level, l.ended]), [['info', 1]]);
  });

  test('audit double record: a failure answering the IdP after the sessions ended is recorded once (accepted), not again as refused', async () => {
    const victim = await signIn('answer-fails@example.com');
    const slo = gh.app.context.singleLogout.get('lab')!;
    const answer = slo.answer;
    slo.answer = () => {
      throw new Error('answer failed');
    };
    let res: Response;
    try {
      res = await viaRedirect(redirectQuery('SAMLRequest', genuine('answer-fails@example.com').xml));
    } finally {
      slo.answer = answer;
    }
    assert.equal(res.status, 500);
    assert.equal(await signedIn(victim.jar), false);
    await gh.app.context.samlAudit.settled();
    const { entries } = await gh.app.context.samlAudit.list({ kind: 'logout-request', limit: 100 });
    const mine = entries.filter((e) => e.req_id === res.headers.get('x-request-id'));
    assert.deepEqual(mine.map((e) => [e.verdict, e.reason]), [['accepted', 'logout-ok-ended-1']]);
    const control = await viaRedirect(redirectQuery('SAMLRequest', genuine('answer-fails@example.com').xml, { keys: null }));
    await gh.app.context.samlAudit.settled();
    const again = (await gh.app.context.samlAudit.list({ kind: 'logout-request', limit: 100 })).entries.filter((e) => e.req_id === control.headers.get('x-request-id'));
    assert.deepEqual(again.map((e) => e.verdict), ['refused'], 'control: a refused message is recorded (once)');
  });

  test('audit noise: a bare GET to the SLO endpoint (no SAMLRequest/SAMLResponse) is refused with one line and not recorded', async () => {
    const res = await jarFetch(new CookieJar(), sloOf('lab'));
    assert.equal(res.status, 403);
    const reqId = res.headers.get('x-request-id');
    assert.equal(gh.logs.find((l) => l.event === 'logout-failed' && l.req_id === reqId).length, 1);
    await gh.app.context.samlAudit.settled();
    const { entries } = await gh.app.context.samlAudit.list({ limit: 1000 });
    assert.equal(entries.filter((e) => e.req_id === reqId).length, 0);
  });

  test('SLO off or a wrong method: one logout-failed line per refusal, sessions untouched', async () => {
    const victim = await signIn('local2@example.com', 'local');
    const off = await viaRedirect(redirectQuery('SAMLRequest', genuine('local2@example.com', {}, 'local').xml), 'local');
    assert.equal(off.status, 404);
    const put = await jarFetch(new CookieJar(), sloOf('lab'), { method: 'PUT', body: 'x' });
    assert.equal(put.status, 405);
    for (const [res, reason] of [[off, 'single-logout-off'], [put, 'slo-method']] as const) {
      const lines = gh.logs.find((l) => l.req_id === res.headers.get('x-request-id') && l.level !== 'info' && l.level !== 'debug');
      assert.deepEqual(lines.map((l) => [l.event, l.reason]), [['logout-failed', reason]]);
    }
    assert.ok(await signedIn(victim.jar));
  });

  test('single_logout: false refuses the SLO endpoint and leaves sessions alone', async () => {
    const victim = await signIn('local@example.com', 'local');
    const res = await viaRedirect(redirectQuery('SAMLRequest', genuine('local@example.com', {}, 'local').xml), 'local');
    assert.equal(res.status, 404);
    assert.ok(await signedIn(victim.jar));
  });
});

describe('SP-initiated logout', () => {
  /** Signs out from the confirm page (CSRF token); returns the redirect to the IdP. */
  async function signOut(jar: CookieJar): Promise<Response> {
    const page = await (await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { headers: { accept: 'text/html' } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    return jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { accept: 'text/html' }, body: new URLSearchParams({ csrf }) });
  }

  test('control: the local session ends at once, the browser goes to the IdP with a signed LogoutRequest; the genuine response shows the signed-out page', async () => {
    const me = await signIn('sp-out@example.com');
    const token = me.jar.get(COOKIE)!;
    const confirm = await jarFetch(me.jar, `${gh.url}/.gatehouse/logout`, { headers: { accept: 'text/html' } });
    assert.match(confirm.headers.get('content-security-policy')!, /form-action 'self' https:\/\/idp\.test\.example/);
    await confirm.arrayBuffer();
    const res = await signOut(me.jar);
    assert.equal(res.status, 303);
    const req = readRedirect(res.headers.get('location')!, SP_KEYS.certPem);
    assert.equal(req.location, IDP_SLO);
    assert.ok(req.signatureValid);
    assert.match(req.xml, /<saml:NameID Format="urn:oasis:names:tc:SAML:1\.1:nameid-format:emailAddress" SPNameQualifier="[^"]+\/lab\/metadata">sp-out@example\.com<\/saml:NameID>/);
    assert.match(req.xml, new RegExp(`<samlp:SessionIndex>${me.sessionIndex}</samlp:SessionIndex>`));
    assert.match(req.xml, new RegExp(`Destination="${IDP_SLO}"`));
    const id = /ID="([^"]+)"/.exec(req.xml)![1]!;
    // Fail closed: the session is gone before the IdP says anything.
    const stale = await fetch(`${gh.url}/.gatehouse/userinfo`, { headers: { cookie: `${COOKIE}=${token}` } });
    assert.equal(stale.status, 401);
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: id });
    const done = await jarFetch(me.jar, `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: req.relayState! })}`, { headers: { accept: 'text/html' } });
    const body = await done.text();
    assert.equal(done.status, 200, body);
    assert.match(body, /also signed out at your identity provider/);
  });

  async function pendingLogout(email: string) {
    const me = await signIn(email);
    const res = await signOut(me.jar);
    const req = readRedirect(res.headers.get('location')!, SP_KEYS.certPem);
    return { jar: me.jar, relayState: req.relayState!, id: /ID="([^"]+)"/.exec(req.xml)![1]! };
  }

  async function assertResponseRefused(send: () => Promise<Response>, reason: string): Promise<void> {
    const before = gh.logs.find((l) => l.event === 'logout-failed').length;
    const res = await send();
    const body = await res.text();
    assert.equal(res.status, 403, body);
    assert.match(body, /SAML_LOGOUT_FAILED/);
    const lines = gh.logs.find((l) => l.event === 'logout-failed').slice(before);
    assert.deepEqual(lines.map((l) => l.reason), [reason], gh.logs.text());
  }

  test('LogoutResponse with an unknown InResponseTo is refused', async () => {
    const p = await pendingLogout('sp-irt@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: '_not-our-request' });
    await assertResponseRefused(() => jarFetch(p.jar, `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: p.relayState })}`), 'logout-in-response-to-mismatch');
  });

  test('LogoutResponse finished in another browser is refused', async () => {
    const p = await pendingLogout('sp-csrf@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: p.id });
    await assertResponseRefused(() => jarFetch(new CookieJar(), `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: p.relayState })}`), 'logout-started-in-another-browser');
  });

  test('unsigned LogoutResponse is refused', async () => {
    const p = await pendingLogout('sp-unsigned@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: p.id });
    await assertResponseRefused(() => jarFetch(p.jar, `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: p.relayState, keys: null })}`), 'redirect-unsigned');
  });

  test('LogoutResponse without Destination is refused', async () => {
    const p = await pendingLogout('sp-dest@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: null, inResponseTo: p.id });
    await assertResponseRefused(() => jarFetch(p.jar, `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: p.relayState })}`), 'destination-missing');
  });

  test('replayed LogoutResponse is refused the second time', async () => {
    const p = await pendingLogout('sp-replay@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: p.id });
    const url = `${sloOf('lab')}?${redirectQuery('SAMLResponse', answer, { relayState: p.relayState })}`;
    const first = await jarFetch(p.jar, url);
    assert.equal(first.status, 200, await first.text());
    await assertResponseRefused(() => jarFetch(p.jar, url), 'logout-relay-state-unknown');
  });

  test('Success with PartialLogout: the page says other applications may still be signed in (not a full sign-out), logged partial-logout', async () => {
    const p = await pendingLogout('sp-partial@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: p.id, subStatus: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout' });
    const res = await jarFetch(p.jar, sloOf('lab'), { method: 'POST', body: new URLSearchParams({ SAMLResponse: postField(answer), RelayState: p.relayState }) });
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.match(body, /could not sign you out of every other application/);
    assert.doesNotMatch(body, /You are also signed out at your identity provider/);
    assert.equal(gh.logs.find((l) => l.event === 'saml-logout' && l.kind === 'LogoutResponse').at(-1)?.verdict, 'partial-logout');
  });

  test('POST LogoutResponse (XML signature) is accepted', async () => {
    const p = await pendingLogout('sp-post@example.com');
    const answer = logoutResponseXml({ issuer: TEST_IDP.entityId, destination: sloOf('lab'), inResponseTo: p.id });
    const res = await jarFetch(p.jar, sloOf('lab'), { method: 'POST', body: new URLSearchParams({ SAMLResponse: postField(answer), RelayState: p.relayState }) });
    assert.equal(res.status, 200, await res.text());
  });

  test('with single_logout: false the sign-out stays local', async () => {
    const me = await signIn('local-out@example.com', 'local');
    const res = await signOut(me.jar);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /You are signed out/);
    assert.equal(await signedIn(me.jar), false);
  });
});
