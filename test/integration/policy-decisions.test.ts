/**
 * The policy language through a running Gatehouse: methods and 405, sub-path deny rules on
 * real requests, source_ip through trusted proxies, the deny page's granting groups, and what
 * anonymous users learn (nothing). Nothing refused reaches the upstream.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
let ds: CookieJar;
let ml: CookieJar;
let admin: CookieJar;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { server: { trusted_proxies: ['127.0.0.2'] } },
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
    routes: [
      {
        name: 'dbx',
        path: '/api/2.0',
        upstream: upstream.url,
        allow: [{ groups: ['data-scientists'], methods: ['GET'] }, { groups: ['ml-engineers'] }],
        deny: [{ methods: ['POST'], paths: ['/api/2.0/clusters/delete'], not: { groups: ['admins'] } }],
      },
      { name: 'read-only', path: '/ro', methods: ['GET'], upstream: upstream.url, allow: [{ authenticated: true }] },
      { name: 'office', path: '/office', upstream: upstream.url, allow: [{ authenticated: true, source_ip: ['198.51.100.0/24'] }] },
      { name: 'quiet', path: '/quiet', upstream: upstream.url, allow: [{ groups: ['admins'] }], explain_denial: false },
      { name: 'tf', path: '/v1/models', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], deny: [{ paths: ['/v1/models/*:predict'], not: { groups: ['admins'] } }] },
      { name: 'site', path: '/site', upstream: upstream.url, allow: [{ public: true }], deny: [{ paths: ['/site/internal'] }] },
    ],
  });
  ds = await signIn(gh.url, 'lab', 'dana@example.com', ['data-scientists']);
  ml = await signIn(gh.url, 'lab', 'mo@example.com', ['ml-engineers']);
  admin = await signIn(gh.url, 'lab', 'ada@example.com', ['ml-engineers', 'admins']);
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

/** A browser navigation (fetch cannot send `Sec-Fetch-Mode: navigate`): status, page, request id. */
function browserRequest(method: string, path: string, cookie: string | undefined): Promise<{ status: number; body: string; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gh.url}${path}`, { method, headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', ...(cookie ? { cookie } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body, requestId: String(res.headers['x-request-id']) }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

/** Sends a request and reports its status and whether the upstream saw it. */
async function send(jar: CookieJar | undefined, path: string, init: RequestInit = {}): Promise<{ status: number; reached: boolean; res: Response }> {
  const before = upstream.seen.length;
  const res = jar ? await jarFetch(jar, `${gh.url}${path}`, init) : await fetch(`${gh.url}${path}`, init);
  await res.arrayBuffer().catch(() => undefined);
  return { status: res.status, reached: upstream.seen.length > before, res };
}

describe('sub-path rules on real requests', () => {
  test('a non-admin cluster delete is refused and never reaches the upstream, in every spelling', async () => {
    for (const p of ['/api/2.0/clusters/delete', '/api/2.0/clusters/delete/', '/api/2.0//clusters/delete', '/api/2.0/x/../clusters/delete', '/api/2.0/clusters/%64elete', '/api/2.0/clusters/./delete']) {
      const r = await send(ml, p, { method: 'POST', body: '{}' });
      assert.deepEqual({ p, status: r.status, reached: r.reached }, { p, status: 403, reached: false });
    }
  });

  test('admins delete clusters; ml-engineers create jobs; data scientists only read', async () => {
    assert.equal((await send(admin, '/api/2.0/clusters/delete', { method: 'POST', body: '{}' })).status, 200);
    assert.equal((await send(ml, '/api/2.0/jobs/create', { method: 'POST', body: '{}' })).status, 200);
    assert.equal((await send(ds, '/api/2.0/jobs/list')).status, 200);
    const write = await send(ds, '/api/2.0/jobs/create', { method: 'POST', body: '{}' });
    assert.deepEqual({ status: write.status, reached: write.reached }, { status: 403, reached: false });
  });

  test('anonymous cluster delete gets 401 with a login URL, not a 403 that reveals the rule', async () => {
    const r = await send(undefined, '/api/2.0/clusters/delete', { method: 'POST', body: '{}' });
    assert.equal(r.status, 401);
    assert.equal(r.reached, false);
  });
});

describe('equivalent spellings of a denied path', () => {
  test('encoded reserved characters and a trailing slash do not slip past a glob deny', async () => {
    for (const p of ['/v1/models/m:predict', '/v1/models/m%3Apredict', '/v1/models/m%3apredict', '/v1/models/m:predict/', '/v1/models/%6D:predict']) {
      const r = await send(ml, p, { method: 'POST', body: '{}' });
      assert.deepEqual({ p, status: r.status, reached: r.reached }, { p, status: 403, reached: false });
    }
    assert.equal((await send(admin, '/v1/models/m%3Apredict', { method: 'POST', body: '{}' })).status, 200);
    assert.equal(upstream.seen.at(-1)!.url, '/v1/models/m:predict', 'the path checked is the path forwarded');
  });

  test('an encoded `;` is a path parameter like a raw one: 400 before any route', async () => {
    const r = await send(admin, '/v1/models/m%3B:predict', { method: 'POST', body: '{}' });
    assert.deepEqual({ status: r.status, reached: r.reached }, { status: 400, reached: false });
  });

  test('a request target over 8 KB gets 414 and is not matched at all', async () => {
    const r = await send(admin, `/v1/models/${'a'.repeat(9000)}:predict`, { method: 'POST', body: '{}' });
    assert.deepEqual({ status: r.status, reached: r.reached }, { status: 414, reached: false });
  });
});

describe('methods', () => {
  test('a websocket handshake sent as POST is refused (405), never decided as POST and forwarded as GET', async () => {
    const res = await new Promise<{ status: number }>((resolve, reject) => {
      const req = request(`${gh.url}/api/2.0/ws`, { method: 'POST', headers: { cookie: ml.header()!, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (r) => resolve({ status: r.statusCode ?? 0 }));
      req.on('upgrade', (r, socket) => {
        socket.destroy();
        resolve({ status: r.statusCode ?? 0 });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.status, 405);
  });

  test('a method the route does not serve gets 405 with Allow, and nothing is forwarded', async () => {
    const r = await send(ml, '/ro/x', { method: 'DELETE' });
    assert.equal(r.status, 405);
    assert.equal(r.res.headers.get('allow'), 'GET, HEAD');
    assert.equal(r.reached, false);
    assert.equal((await send(ml, '/ro/x', { method: 'HEAD' })).status, 200);
  });
});

describe('source_ip', () => {
  test('X-Forwarded-For spoofing: a client that is not a trusted proxy cannot claim an office address', async () => {
    const r = await send(ml, '/office/x', { headers: { 'x-forwarded-for': '198.51.100.7' } });
    assert.deepEqual({ status: r.status, reached: r.reached }, { status: 403, reached: false });
  });
});

describe('what a refused user is told', () => {
  test('a signed-in user sees the groups that would grant access, with the request id (JSON and page)', async () => {
    const json = await jarFetch(ds, `${gh.url}/api/2.0/jobs/create`, { method: 'POST', body: '{}' });
    const body = (await json.json()) as { error: { code: string; granting_groups?: string[]; request_id: string; reason?: string } };
    assert.equal(body.error.code, 'ACCESS_DENIED');
    assert.deepEqual(body.error.granting_groups, ['ml-engineers']);
    assert.equal(body.error.request_id, json.headers.get('x-request-id'));
    const page = await browserRequest('POST', '/api/2.0/jobs/create', ds.header());
    assert.equal(page.status, 403);
    assert.match(page.body, /Access is granted to members of: <code>ml-engineers<\/code>/);
    assert.ok(page.body.includes(page.requestId), 'the page carries the request id');
  });

  test('explain_denial: false keeps the granting groups to itself', async () => {
    const res = await jarFetch(ds, `${gh.url}/quiet/x`);
    const body = (await res.json()) as { error: { granting_groups?: string[]; reason?: string } };
    assert.equal(res.status, 403);
    assert.equal(body.error.granting_groups, undefined);
    assert.equal(body.error.reason, 'groups-unauthorized');
  });

  test('policy disclosure: an anonymous user refused by a deny rule learns no reason and no groups', async () => {
    const page = await browserRequest('GET', '/site/internal/x', undefined);
    assert.equal(page.status, 403);
    assert.match(page.body, /Access denied/);
    assert.doesNotMatch(page.body, /denied-by-rule|path-ok|Reason|granted to/);
    const json = (await (await fetch(`${gh.url}/site/internal/x`)).json()) as { error: Record<string, unknown> };
    assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'request_id']);
    assert.equal((await send(undefined, '/site/public-page')).status, 200);
  });
});
