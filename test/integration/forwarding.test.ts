import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { decodeGroupsHeader } from '../../proxy/forward/identity-headers.js';
import { freePort } from '../helpers/free-port.js';
import { CookieJar, jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

/** The upstream client under test; forwarding-undici.test.ts runs this whole file with undici. */
const ENGINE = process.env.GATEHOUSE_TEST_UPSTREAM_CLIENT === 'undici' ? 'undici' : 'native';

let gh: RunningGatehouse;
let upstream: TestUpstream;
let alice: CookieJar;
let bob: CookieJar;
let deadPort: number;

before(async () => {
  upstream = await startTestUpstream();
  deadPort = await freePort();
  gh = await startGatehouse({
    config: { server: { upstream_client: ENGINE } },
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
    routes: [
      { name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], timeout: '400ms', forward_groups: 'all' },
      { name: 'mlmin', path: '/mlmin', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], deny: [{ groups: ['a;b'] , emails: ['nobody@example.com'] }] },
      { name: 'mlnone', path: '/mlnone', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], forward_groups: 'none' },
      { name: 'custom', path: '/custom', upstream: `${upstream.url}/base`, allow: [{ authenticated: true }], headers: { user: 'X-Remote-User', email: 'X-Remote-Email', groups: 'X-Remote-Groups' } },
      { name: 'nows', path: '/nows', upstream: upstream.url, allow: [{ authenticated: true }], websockets: false },
      { name: 'dead', path: '/dead', upstream: `http://127.0.0.1:${deadPort}`, allow: [{ public: true }] },
      { name: 'public', path: '/public', upstream: upstream.url, allow: [{ public: true }] },
    ],
  });
  assert.equal(gh.app.context.pools.engine, ENGINE, `running on the ${ENGINE} upstream client`);
  alice = await signIn(gh.url, 'lab', 'alice@example.com', ['ml-engineers', 'team, ml', 'a;b', 'Ünïcode-grüppe']);
  bob = await signIn(gh.url, 'lab', 'bob@example.com', ['data-scientists']);
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

const last = () => upstream.seen.at(-1)!;

/** Sends a request with exact raw headers (fetch would merge or refuse some). */
function rawRequest(path: string, headers: [string, string][], method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  const url = new URL(gh.url);
  return new Promise((resolve, reject) => {
    // An array of raw headers turns off Node's automatic Host header: add it unless the test sets one.
    const withHost = headers.some(([k]) => k.toLowerCase() === 'host') ? headers : [['Host', url.host] as [string, string], ...headers];
    const flat = withHost.flat();
    const req = request({ host: url.hostname, port: url.port, path, method, headers: flat as unknown as Record<string, string> }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('identity headers', () => {
  test('the upstream sees who is signed in, groups encoded unambiguously', async () => {
    const res = await jarFetch(alice, `${gh.url}/ml/x`);
    assert.equal(res.status, 200);
    const h = last().headers;
    assert.equal(h['x-forwarded-user'], 'alice@example.com');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.deepEqual(decodeGroupsHeader(String(h['x-forwarded-groups'])), ['ml-engineers', 'team, ml', 'a;b', 'Ünïcode-grüppe']);
  });

  test('by default only the groups the route names are forwarded (a user in hundreds of groups causes no upstream 431)', async () => {
    assert.equal((await jarFetch(alice, `${gh.url}/mlmin/x`)).status, 200);
    assert.deepEqual(decodeGroupsHeader(String(last().headers['x-forwarded-groups'])), ['ml-engineers', 'a;b']);
  });

  test('forward_groups: none sends no groups header at all, and a client copy is still dropped', async () => {
    const res = await rawRequest('/mlnone/x', [['Cookie', alice.header()!], ['X-Forwarded-Groups', 'admins']]);
    assert.equal(res.status, 200);
    assert.equal(last().headers['x-forwarded-groups'], undefined);
    assert.equal(last().headers['x-forwarded-user'], 'alice@example.com');
  });

  test('identity header spoofing: every client copy is dropped, in any case, with underscores, duplicated', async () => {
    const cookie = alice.header()!;
    const res = await rawRequest('/ml/spoof', [
      ['Cookie', cookie],
      ['X-Forwarded-User', 'mallory'],
      ['x-forwarded-user', 'mallory2'],
      ['X_Forwarded_Email', 'mallory@example.com'],
      ['x-forwarded_groups', 'admins'],
      ['X-Remote-User', 'mallory3'],
    ]);
    assert.equal(res.status, 200);
    const raw = last().rawHeaders;
    const values = (name: string) => raw.filter((_v, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase().replaceAll('_', '-') === name);
    assert.deepEqual(values('x-forwarded-user'), ['alice@example.com']);
    assert.deepEqual(values('x-forwarded-email'), ['alice@example.com']);
    assert.equal(values('x-forwarded-groups').length, 1);
    assert.ok(!values('x-forwarded-groups')[0]!.split(',').includes('admins'));
    assert.deepEqual(values('x-remote-user'), [], 'custom identity header names of other routes are stripped too');
  });

  test('identity header spoofing on a public route: anonymous requests carry no identity', async () => {
    const res = await rawRequest('/public/x', [['X-Forwarded-User', 'admin'], ['X-Forwarded-Groups', 'admins']]);
    assert.equal(res.status, 200);
    assert.equal(last().headers['x-forwarded-user'], undefined);
    assert.equal(last().headers['x-forwarded-groups'], undefined);
  });

  test('per-route header names and upstream base path', async () => {
    const res = await jarFetch(bob, `${gh.url}/custom/item?q=1`);
    assert.equal(res.status, 200);
    assert.equal(last().url, '/base/custom/item?q=1');
    assert.equal(last().headers['x-remote-user'], 'bob@example.com');
    assert.equal(last().headers['x-forwarded-user'], undefined);
  });
});

describe('header hygiene', () => {
  test('hop-by-hop, Connection-listed and forwarding headers from the client are not forwarded', async () => {
    await rawRequest('/public/hop', [
      ['Connection', 'keep-alive, X-Drop-Me'],
      ['X-Drop-Me', 'secret'],
      ['Keep-Alive', 'timeout=5'],
      ['Proxy-Authorization', 'Basic Zm9vOmJhcg=='],
      ['X-Forwarded-For', '6.6.6.6'],
      ['X-Forwarded-Host', 'evil.example'],
      ['Forwarded', 'for=6.6.6.6'],
      ['X-Real-IP', '6.6.6.6'],
      ['X-Keep', 'yes'],
    ]);
    const h = last().headers;
    assert.equal(h['x-drop-me'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-host'], new URL(gh.url).host);
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h.forwarded, undefined);
    assert.equal(h['x-real-ip'], undefined);
    assert.equal(h['x-keep'], 'yes');
    assert.match(String(h['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('session cookie theft by the upstream: our cookies are removed, others kept', async () => {
    await rawRequest('/ml/c', [['Cookie', `theme=dark; gatehouse_session=${alice.get('gatehouse_session')}; gatehouse_login=x; lang=en`]]);
    const cookie = String(last().headers.cookie);
    assert.equal(cookie, 'theme=dark; lang=en');
  });

  test('session fixation by an upstream: Set-Cookie for our cookies is dropped, others kept', async () => {
    const res = await rawRequest('/public/set-our-cookie', []);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers['set-cookie'], ['app=1; Path=/']);
  });

  test('request smuggling in a GET body: the upstream connection that carried it is not reused', async () => {
    await rawRequest('/public/warm', []);
    const before = upstream.connections();
    const res = await new Promise<number>((resolve, reject) => {
      const url = new URL(gh.url);
      const body = 'GET /admin HTTP/1.1\r\nHost: x\r\n\r\n';
      const req = request({ host: url.hostname, port: url.port, path: '/public/get-with-body', method: 'GET', headers: { 'content-length': String(body.length) } }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode!));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(res, 200);
    await rawRequest('/public/after', []);
    await rawRequest('/public/after2', []);
    assert.ok(upstream.connections() > before, 'a fresh upstream connection after the GET with a body');
    assert.ok(!upstream.seen.some((s) => s.url === '/admin'), 'the hidden request never reached the upstream as a request');
  });

  test('request smuggling: a Transfer-Encoding other than chunked is refused', async () => {
    const before = upstream.seen.length;
    const res = await rawRequest('/public/te', [['Transfer-Encoding', 'gzip, chunked'], ['accept', 'application/json']], 'POST');
    assert.equal(res.status, 400);
    assert.equal(upstream.seen.length, before);
  });

  test('response: hop-by-hop and Connection-listed headers dropped, multiple Set-Cookie kept', async () => {
    const res = await rawRequest('/public/status/418', []);
    assert.equal(res.status, 418);
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.equal(res.headers['x-secret-hop'], undefined);
    const ok = await rawRequest('/public/plain', []);
    assert.deepEqual(ok.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
  });
});

describe('paths: the path checked is the path forwarded', () => {
  test('dot segments and duplicate slashes are resolved before routing', async () => {
    const res = await rawRequest('/public/../ml//x/./y', []);
    assert.equal(res.status, 401, 'normalized to /ml/x/y, which needs sign-in');
    const ok = await rawRequest('/ml/a/%2e%2e/b', [['Cookie', alice.header()!]]);
    assert.equal(ok.status, 200);
    assert.equal(last().url, '/ml/b');
  });

  for (const [name, path] of [
    ['encoded slash', '/public%2f..%2fml/x'],
    ['encoded backslash', '/public/..%5cml'],
    ['backslash', '/public\\..\\ml'],
    ['encoded NUL', '/public/x%00.html'],
    ['double encoding', '/public/%252e%252e/ml'],
    ['path parameter', '/ml;jsessionid=1/x'],
    ['climbing above the root', '/../../etc/passwd'],
  ] as const) {
    test(`ambiguous path (${name}) is refused with 400 and not forwarded`, async () => {
      const before = upstream.seen.length;
      const res = await rawRequest(path, [['accept', 'application/json']]);
      assert.equal(res.status, 400, res.body);
      assert.match(res.body, /BAD_PATH/);
      assert.equal(upstream.seen.length, before);
    });
  }

  test('reserved paths are never forwarded', async () => {
    const before = upstream.seen.length;
    assert.equal((await rawRequest('/.gatehouse', [])).status, 404);
    assert.equal((await rawRequest('/.gatehouse/nothing', [])).status, 404);
    assert.equal(upstream.seen.length, before);
  });

  test('no route: 404 ROUTE_NOT_FOUND', async () => {
    const res = await rawRequest('/nowhere', [['accept', 'application/json']]);
    assert.equal(res.status, 404);
    assert.match(res.body, /ROUTE_NOT_FOUND/);
  });

  test('oversized request head: 431 HEADERS_TOO_LARGE, nothing forwarded', async () => {
    const before = upstream.seen.length;
    const res = await rawRequest('/public/big', [['X-Big', 'a'.repeat(40_000)]]);
    assert.equal(res.status, 431);
    assert.match(res.body, /HEADERS_TOO_LARGE/);
    assert.equal(upstream.seen.length, before);
  });

  test('malformed Host header: 400', async () => {
    const res = await rawRequest('/public/x', [['Host', 'evil host']]);
    assert.equal(res.status, 400);
  });
});

describe('who gets what', () => {
  test('a browser without a session is redirected to sign in, and comes back to the same URL', async () => {
    const res = await rawRequest('/ml/page?a=1', [['accept', 'text/html'], ['sec-fetch-mode', 'navigate']]);
    assert.equal(res.status, 302);
    const loc = new URL(String(res.headers.location));
    assert.equal(loc.pathname, '/.gatehouse/saml/lab/login');
    assert.equal(loc.searchParams.get('rd'), '/ml/page?a=1');
  });

  test('an API client without a session gets 401 JSON with the login URL', async () => {
    const variants: Record<string, string>[] = [{ accept: 'application/json' }, { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' }, {}];
    for (const headers of variants) {
      const res = await fetch(`${gh.url}/ml/page`, { redirect: 'manual', headers });
      assert.equal(res.status, 401);
      const body = (await res.json()) as { error: { code: string; login_url: string; request_id: string } };
      assert.equal(body.error.code, 'AUTHENTICATION_REQUIRED');
      assert.match(body.error.login_url, /\/\.gatehouse\/saml\/lab\/login\?rd=/);
      assert.equal(body.error.request_id, res.headers.get('x-request-id'));
    }
  });

  test('a signed-in user without the group gets 403 with the reason and request id, nothing forwarded', async () => {
    const before = upstream.seen.length;
    const res = await rawRequest('/ml/x', [['Cookie', bob.header()!], ['accept', 'text/html'], ['sec-fetch-mode', 'navigate']]);
    assert.equal(res.status, 403);
    assert.match(String(res.headers['content-type']), /text\/html/);
    const html = res.body;
    const requestId = String(res.headers['x-request-id']);
    assert.match(html, /ACCESS_DENIED/);
    assert.match(html, /groups-unauthorized/);
    assert.match(html, /Signed in as <strong>bob@example\.com<\/strong>/);
    assert.match(html, /href="\/\.gatehouse\/logout"/);
    assert.ok(html.includes(requestId));
    assert.equal(upstream.seen.length, before);
    const decision = gh.logs.find((l) => l.event === 'decision' && l.req_id === requestId);
    assert.deepEqual(decision[0]!.reasons, ['groups-unauthorized']);
  });

  test('upstream down: 502 UPSTREAM_UNAVAILABLE', async () => {
    const res = await rawRequest('/dead/x', [['accept', 'application/json']]);
    assert.equal(res.status, 502);
    assert.match(res.body, /UPSTREAM_UNAVAILABLE/);
  });

  test('stalled upload: 408 after the route timeout, and the upstream connection is released', async () => {
    const url = new URL(gh.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/ml/upload', method: 'POST', headers: { cookie: `gatehouse_session=${alice.get('gatehouse_session')}`, 'content-length': '1000', accept: 'application/json' } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write('only ten b');
    });
    assert.equal(status, 408);
    assert.equal((await jarFetch(alice, `${gh.url}/ml/after-stall`)).status, 200);
  });

  test('upstream too slow: 504 UPSTREAM_TIMEOUT after the route timeout', async () => {
    const res = await jarFetch(alice, `${gh.url}/ml/slow?ms=2000`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 504);
    assert.match(await res.text(), /UPSTREAM_TIMEOUT/);
  });
});

describe('streaming', () => {
  test('request and response bodies stream through unchanged', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = i % 251;
    const res = await jarFetch(alice, `${gh.url}/ml/echo-body`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(body));
  });

  test('a chunked response of many pieces arrives whole', async () => {
    const res = await jarFetch(alice, `${gh.url}/ml/stream?chunks=200&size=4096`);
    assert.equal((await res.arrayBuffer()).byteLength, 200 * 4096);
  });
});

describe('websockets', () => {
  const wsUrl = (path: string) => `${gh.url.replace('http', 'ws')}${path}`;
  const open = (path: string, jar?: CookieJar, origin?: string) =>
    new Promise<{ ws?: WebSocket; status?: number }>((resolve) => {
      const ws = new WebSocket(wsUrl(path), { headers: jar ? { cookie: jar.header()! } : {}, ...(origin ? { origin } : {}) });
      ws.once('open', () => resolve({ ws }));
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode }));
      ws.once('error', () => resolve({}));
    });

  test('a signed-in user gets an echo through Gatehouse, and the upstream sees the identity', async () => {
    const { ws } = await open('/ml/ws', alice);
    assert.ok(ws);
    const echoed = new Promise<string>((resolve) => ws!.once('message', (d) => resolve(d.toString())));
    ws!.send('hello through gatehouse');
    assert.equal(await echoed, 'hello through gatehouse');
    ws!.close();
    assert.equal(upstream.seen.filter((s) => s.method === 'UPGRADE').at(-1)!.headers['x-forwarded-user'], 'alice@example.com');
  });

  test('cross-site websocket hijacking: a handshake from another origin is refused', async () => {
    assert.equal((await open('/ml/ws', alice, 'https://evil.example')).status, 403);
    const { ws } = await open('/ml/ws', alice, gh.url);
    assert.ok(ws, 'our own origin is fine');
    ws!.close();
  });

  test('websocket without a session: 401, never upgraded', async () => {
    assert.equal((await open('/ml/ws')).status, 401);
  });

  test('websocket for a user without the group: 403', async () => {
    assert.equal((await open('/ml/ws', bob)).status, 403);
  });

  test('websocket on a route that turned them off: 403', async () => {
    assert.equal((await open('/nows/ws', bob)).status, 403);
  });
});

describe('own endpoints', () => {
  test('userinfo shows the identity', async () => {
    const res = await jarFetch(alice, `${gh.url}/.gatehouse/userinfo`);
    const body = (await res.json()) as { user: string; groups: string[] };
    assert.equal(body.user, 'alice@example.com');
    assert.ok(body.groups.includes('ml-engineers'));
    assert.equal((await fetch(`${gh.url}/.gatehouse/userinfo`)).status, 401);
  });

  test('logout CSRF: a POST from another site does not sign out; GET never signs out', async () => {
    const jar = await signIn(gh.url, 'lab', 'carol@example.com', null);
    const cross = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: 'https://evil.example' } });
    assert.equal(cross.status, 403);
    assert.match(await cross.text(), /CSRF_REJECTED/);
    await jarFetch(jar, `${gh.url}/.gatehouse/logout`);
    assert.equal((await jarFetch(jar, `${gh.url}/.gatehouse/userinfo`)).status, 200, 'still signed in');
  });

  test('logout with the page token ends the session everywhere it is presented', async () => {
    const jar = await signIn(gh.url, 'lab', 'carol@example.com', null);
    const stolen = jar.get('gatehouse_session')!;
    const page = await (await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { headers: { accept: 'text/html' } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const json = (await (await jarFetch(jar, `${gh.url}/.gatehouse/logout`)).json()) as { signed_in: boolean; sign_out: { csrf: string } };
    assert.equal(json.signed_in, true, 'a script asking gets JSON, never the page');
    assert.equal(json.sign_out.csrf, csrf, 'the same session-bound token');
    const res = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', body: new URLSearchParams({ csrf }) });
    assert.equal(res.status, 200);
    assert.equal(jar.get('gatehouse_session'), undefined, 'cookie cleared');
    const replay = new CookieJar();
    replay.set('gatehouse_session', stolen);
    assert.equal((await jarFetch(replay, `${gh.url}/.gatehouse/userinfo`)).status, 401, 'the old cookie no longer works');
  });

  test('health and readiness', async () => {
    assert.equal((await fetch(`${gh.url}/.gatehouse/healthz`)).status, 200);
    const ready = (await (await fetch(`${gh.url}/.gatehouse/readyz`)).json()) as { status: string };
    assert.equal(ready.status, 'ready');
  });
});
