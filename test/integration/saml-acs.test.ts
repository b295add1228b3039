/**
 * Non-attack SAML login tests (the ACS happy paths, session cookie, SP metadata, logs). Every
 * attack on the ACS is in saml-attacks.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
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

  test('stolen old cookie: signing in again in the same browser ends the session it replaces', async () => {
    const first = await startSpLogin(gh.url, 'lab');
    assert.equal((await postResponse(first, genuineResponseXml(first, 'alice@example.com'))).status, 303);
    const stolen = new CookieJar();
    stolen.set('gatehouse_session', first.jar.get('gatehouse_session')!);
    await assertSignedIn(stolen);
    // Another browser of the same user is not this browser: its session stays.
    const elsewhere = await startSpLogin(gh.url, 'lab');
    assert.equal((await postResponse(elsewhere, genuineResponseXml(elsewhere, 'alice@example.com'))).status, 303);
    const again = await startSpLogin(gh.url, 'other', { jar: first.jar });
    assert.equal((await postResponse(again, genuineResponseXml(again, 'alice@example.com'))).status, 303);
    await assertSignedIn(first.jar);
    const res = await jarFetch(stolen, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401, 'the replaced session is over');
    await assertSignedIn(elsewhere.jar);
  });

  test('two tabs signing in again from one session: only the session the browser keeps survives (no orphan behind an overwritten cookie)', async () => {
    const first = await startSpLogin(gh.url, 'lab');
    assert.equal((await postResponse(first, genuineResponseXml(first, 'alice@example.com'))).status, 303);
    const tabA = await startSpLogin(gh.url, 'lab', { jar: first.jar });
    const tabB = await startSpLogin(gh.url, 'other', { jar: first.jar });
    const copy = (jar: CookieJar) => {
      const c = new CookieJar();
      c.set('gatehouse_session', jar.get('gatehouse_session')!);
      return c;
    };
    assert.equal((await postResponse(tabA, genuineResponseXml(tabA, 'alice@example.com'))).status, 303);
    const afterA = copy(first.jar);
    assert.equal((await postResponse(tabB, genuineResponseXml(tabB, 'alice@example.com'))).status, 303);
    await assertSignedIn(first.jar);
    const res = await jarFetch(afterA, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 401, 'the session tab A made was ended when tab B replaced the same session');
  });

  test('a forged session cookie (a known id with a wrong key) at login start ends nobody\'s session', async () => {
    const victim = await startSpLogin(gh.url, 'lab');
    assert.equal((await postResponse(victim, genuineResponseXml(victim, 'bob@example.com'))).status, 303);
    const id = victim.jar.get('gatehouse_session')!.split('.')[0]!;
    const attacker = new CookieJar();
    attacker.set('gatehouse_session', `${id}.${'A'.repeat(43)}`);
    const login = await startSpLogin(gh.url, 'lab', { jar: attacker });
    assert.equal((await postResponse(login, genuineResponseXml(login, 'alice@example.com'))).status, 303);
    await assertSignedIn(victim.jar, 'bob@example.com');
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

describe('logs', () => {
  test('raw assertions and cookies never reach the logs', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const xml = genuineResponseXml(login, 'alice@example.com');
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
