/**
 * `upstream_auth`: a route's upstream credentials (bearer, basic or a named header, from an
 * environment variable or a file) are added only to authorized requests, replace any client copy,
 * never reach logs, and a missing secret stops the policy from being served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const TOKEN = 'dapi-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e';
const PASSWORD = 'prefect-pw-4b8d2f6a1c3e5';
const API_KEY = 'key-9e1c3a5b7d';
const files = { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }), 'prefect.secret': `${PASSWORD}\n` };
const connections = [{ id: 'lab', idp_metadata_file: 'idp.xml' }];

let gh: RunningGatehouse;
let upstream: TestUpstream;
let alice: CookieJar;

before(async () => {
  process.env.GH_TEST_DB_TOKEN = TOKEN;
  process.env.GH_TEST_API_KEY = API_KEY;
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    files,
    connections,
    routes: [
      { name: 'db', path: '/db', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], upstream_auth: { bearer: { env: 'GH_TEST_DB_TOKEN' } } },
      { name: 'prefect', path: '/prefect', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], upstream_auth: { basic: { username: 'svc', password: { file: '../prefect.secret' } } } },
      { name: 'keyed', path: '/keyed', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], upstream_auth: { header: { name: 'X-Api-Key', value: { env: 'GH_TEST_API_KEY' } } } },
      { name: 'admins', path: '/admins', upstream: upstream.url, allow: [{ groups: ['admins'] }], upstream_auth: { bearer: { env: 'GH_TEST_DB_TOKEN' } } },
      { name: 'plain', path: '/plain', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
    ],
  });
  const login = await startSpLogin(gh.url, 'lab');
  assert.equal((await postResponse(login, genuineResponseXml(login, 'alice@example.com'))).status, 303);
  alice = login.jar;
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
  delete process.env.GH_TEST_DB_TOKEN;
  delete process.env.GH_TEST_API_KEY;
});

const last = () => upstream.seen.at(-1)!.headers;

describe('upstream_auth', () => {
  test('bearer from an environment variable: the upstream gets the token, the user never sends or sees it', async () => {
    const res = await jarFetch(alice, `${gh.url}/db/api/2.0/clusters/list`);
    assert.equal(res.status, 200);
    assert.equal(last().authorization, `Bearer ${TOKEN}`);
  });

  test("credential override: a client's own Authorization (any spelling) is replaced, not forwarded beside ours", async () => {
    const res = await jarFetch(alice, `${gh.url}/db/x`, { headers: { authorization: 'Bearer stolen-user-token', 'x_authorization': 'x' } });
    assert.equal(res.status, 200);
    assert.equal(last().authorization, `Bearer ${TOKEN}`);
    assert.equal(last()['x_authorization'], 'x', 'other headers untouched');
  });

  test('basic from a file (relative to the policy file, trailing newline dropped)', async () => {
    assert.equal((await jarFetch(alice, `${gh.url}/prefect/api/flows`)).status, 200);
    assert.equal(last().authorization, `Basic ${Buffer.from(`svc:${PASSWORD}`).toString('base64')}`);
  });

  test('a named header replaces the client copy in every spelling', async () => {
    assert.equal((await jarFetch(alice, `${gh.url}/keyed/v1`, { headers: { 'X-API-KEY': 'forged', 'x_api_key': 'forged' } })).status, 200);
    assert.equal(last()['x-api-key'], API_KEY);
    assert.equal(last()['x_api_key'], undefined);
  });

  test('credential theft by the unauthorized: a refused request reaches nobody, so no credential is sent', async () => {
    const before = upstream.seen.length;
    assert.equal((await jarFetch(alice, `${gh.url}/admins/x`, { headers: { accept: 'application/json' } })).status, 403);
    assert.equal((await fetch(`${gh.url}/db/x`, { headers: { accept: 'application/json' } })).status, 401, 'anonymous');
    assert.equal(upstream.seen.length, before);
  });

  test('routes without upstream_auth pass the client Authorization through untouched (control)', async () => {
    assert.equal((await jarFetch(alice, `${gh.url}/plain/x`, { headers: { authorization: 'Bearer users-own' } })).status, 200);
    assert.equal(last().authorization, 'Bearer users-own');
  });

  test('secrets never reach the logs', () => {
    const text = gh.logs.text();
    for (const secret of [TOKEN, PASSWORD, API_KEY]) assert.ok(!text.includes(secret), 'a secret was logged');
  });
});

describe('upstream_auth secrets that cannot be read', () => {
  test('a missing variable or file stops startup with every problem at its route, and no secret in the message', async () => {
    delete process.env.GH_TEST_MISSING;
    process.env.GH_TEST_BAD = 'line\r\nX-Injected: 1';
    try {
      await assert.rejects(
        startGatehouse({
          files,
          connections,
          routes: [
            { name: 'a', path: '/a', upstream: upstream.url, allow: [{ authenticated: true }], upstream_auth: { bearer: { env: 'GH_TEST_MISSING' } } },
            { name: 'b', path: '/b', upstream: upstream.url, allow: [{ authenticated: true }], upstream_auth: { bearer: { file: '../nope.secret' } } },
            { name: 'c', path: '/c', upstream: upstream.url, allow: [{ authenticated: true }], upstream_auth: { header: { name: 'X-Key', value: { env: 'GH_TEST_BAD' } } } },
          ],
        }),
        (err: Error & { problems?: { key: string; message: string }[] }) => {
          assert.deepEqual(err.problems?.map((p) => p.key), ['route a.upstream_auth', 'route b.upstream_auth', 'route c.upstream_auth']);
          assert.match(err.problems![0]!.message, /environment variable GH_TEST_MISSING is not set/);
          assert.match(err.problems![2]!.message, /header cannot carry/);
          assert.ok(!err.message.includes('X-Injected'), 'the bad value is not echoed');
          return true;
        },
      );
    } finally {
      delete process.env.GH_TEST_BAD;
    }
  });
});
