import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { jarFetch, type CookieJar } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let upstream: TestUpstream;
const files = { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) };
const routes = (url: string) => [{ name: 'ml', path: '/ml', upstream: url, allow: [{ groups: ['ml-engineers'] }] }];

before(async () => {
  upstream = await startTestUpstream();
});
after(async () => {
  await upstream?.close();
});

/** Waits for the access line of a request (written when the response closes). */
async function linesOf(gh: RunningGatehouse, id: string) {
  for (let i = 0; i < 50 && !gh.logs.find((l) => l.event === 'access' && l.req_id === id).length; i++) await new Promise((r) => setTimeout(r, 10));
  return { access: gh.logs.find((l) => l.event === 'access' && l.req_id === id), decisions: gh.logs.find((l) => l.event === 'decision' && l.req_id === id) };
}

describe('logs: one access line and one decision record per request', () => {
  let gh: RunningGatehouse;
  let alice: CookieJar;
  let bob: CookieJar;
  before(async () => {
    gh = await startGatehouse({ files, connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }], routes: routes(upstream.url) });
    alice = await signIn(gh.url, 'lab', 'alice@example.com', ['ml-engineers']);
    bob = await signIn(gh.url, 'lab', 'bob@example.com', ['data-scientists']);
  });
  after(async () => gh?.stop());

  test('an allowed request: access line with request id, route, user, status, duration; decision with reasons', async () => {
    const res = await jarFetch(alice, `${gh.url}/ml/x?secret=token123`);
    const { access, decisions } = await linesOf(gh, res.headers.get('x-request-id')!);
    assert.equal(access.length, 1);
    assert.equal(access[0]!.route, 'ml');
    assert.equal(access[0]!.user, 'alice@example.com');
    assert.equal(access[0]!.status, 200);
    assert.equal(access[0]!.path, '/ml/x', 'the query (which may carry secrets) is not logged');
    assert.equal(typeof access[0]!.duration_ms, 'number');
    assert.equal(decisions.length, 1);
    assert.equal(decisions[0]!.decision, 'allow');
    assert.deepEqual(decisions[0]!.reasons, ['groups-ok']);
    assert.ok(!gh.logs.text().includes('token123'));
  });

  test('a denied request: 403 with a deny decision record carrying its reasons', async () => {
    const res = await jarFetch(bob, `${gh.url}/ml/x`, { headers: { accept: 'application/json' } });
    const { access, decisions } = await linesOf(gh, res.headers.get('x-request-id')!);
    assert.equal(access[0]!.status, 403);
    assert.equal(access[0]!.code, 'ACCESS_DENIED');
    assert.equal(decisions[0]!.decision, 'deny');
    assert.deepEqual(decisions[0]!.reasons, ['groups-unauthorized']);
  });
});

describe('logs: decisions: deny records refusals only', () => {
  let gh: RunningGatehouse;
  before(async () => {
    gh = await startGatehouse({ files, config: { log: { decisions: 'deny' } }, connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }], routes: routes(upstream.url) });
  });
  after(async () => gh?.stop());

  test('allowed requests leave only the access line; refusals a decision record too', async () => {
    const alice = await signIn(gh.url, 'lab', 'alice@example.com', ['ml-engineers']);
    const ok = await linesOf(gh, (await jarFetch(alice, `${gh.url}/ml/x`)).headers.get('x-request-id')!);
    assert.equal(ok.access.length, 1);
    assert.equal(ok.decisions.length, 0);
    const no = await linesOf(gh, (await fetch(`${gh.url}/ml/x`)).headers.get('x-request-id')!);
    assert.equal(no.decisions.length, 1);
  });
});
