/**
 * Non-browser behaviour everywhere: scripts, CLIs, fetch/XHR calls and websocket clients never
 * get an HTML page or a redirect to a login page they cannot follow. A request that needs a
 * sign-in gets 401 JSON with a `login` hint (browser URL, the `gatehouse login` command, the
 * discovery document) and a Bearer challenge; only a browser navigation is redirected.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true, admin: { groups: ['platform-admins'] } },
    connections: [{ id: 'demo', demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] }] } }],
    routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, websockets: true, allow: [{ groups: ['ml-engineers'] }] }],
  });
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (node:http: fetch would add its own Sec-Fetch-Mode). */
function send(method: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${gh.url}${path}`, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? 'a=1' : undefined);
  });
}

/** The kinds of clients that are not a browser loading a page. */
const CLIENTS: Record<string, Record<string, string>> = {
  'curl (Accept */*)': { accept: '*/*', 'user-agent': 'curl/8.5.0' },
  'a CLI sending no Accept': {},
  'fetch() from a page': { accept: '*/*', 'sec-fetch-mode': 'cors' },
  'fetch() asking for HTML': { accept: 'text/html', 'sec-fetch-mode': 'cors' },
  'an XHR asking for HTML': { accept: 'text/html, */*', 'x-requested-with': 'XMLHttpRequest' },
  'a JSON API client': { accept: 'application/json' },
};

function assertNoPage(a: Answer, label: string): void {
  assert.doesNotMatch(String(a.headers['content-type'] ?? ''), /html/, `${label}: never an HTML page`);
  assert.ok(a.status < 300 || a.status >= 400, `${label}: never a redirect (got ${a.status} to ${a.headers.location})`);
}

function assertLoginHint(a: Answer, label: string, browserLogin: boolean): void {
  assert.equal(a.status, 401, label);
  assert.match(String(a.headers['content-type']), /^application\/json/, label);
  assert.match(String(a.headers['www-authenticate']), /^Bearer realm="gatehouse"/, `${label}: a Bearer challenge`);
  const { error } = JSON.parse(a.body) as { error: { code: string; login: { browser?: string; cli: string; configuration: string } } };
  assert.equal(error.login.cli, `gatehouse login ${gh.url}`, label);
  assert.equal(error.login.configuration, `${gh.url}/.well-known/gatehouse/configuration`, label);
  if (browserLogin) assert.match(error.login.browser ?? '', /\/\.gatehouse\/saml\/demo\/login\?rd=/, label);
}

describe('a request that needs a sign-in, from anything but a browser navigation', () => {
  test('control: a browser navigation is redirected to sign in', async () => {
    const a = await send('GET', '/ml/page', { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(a.status, 302);
    assert.match(String(a.headers.location), /\/\.gatehouse\/saml\/demo\/login\?rd=%2Fml%2Fpage$/);
  });

  for (const [label, headers] of Object.entries(CLIENTS)) {
    test(`${label}: 401 JSON with the login hint on a route, for GET and POST`, async () => {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const a = await send(method, '/ml/page', headers);
        assertNoPage(a, `${label} ${method}`);
        assertLoginHint(a, `${label} ${method}`, true);
      }
    });

    test(`${label}: Gatehouse's own endpoints answer JSON too (userinfo, admin, sign-in, logout, unknown paths)`, async () => {
      assertLoginHint(await send('GET', '/.gatehouse/userinfo', headers), `${label} userinfo`, false);
      assertLoginHint(await send('GET', '/.gatehouse/admin/sessions', headers), `${label} admin`, false);
      // Sign-out answers a page to whoever asks for HTML by Accept (same-origin scripts included).
      const asksHtml = (headers.accept ?? '').includes('text/html');
      for (const path of ['/.gatehouse/sign-in', ...(asksHtml ? [] : ['/.gatehouse/logout']), '/.gatehouse/no-such-thing', '/nothing-routed-here']) {
        const a = await send('GET', path, headers);
        assertNoPage(a, `${label} ${path}`);
        assert.match(String(a.headers['content-type']), /^application\/json/, `${label} ${path}`);
      }
    });
  }

  test('a browser form POST (a navigation) still gets the page it asked for: the 401 page, never a redirect of the POST', async () => {
    const a = await send('POST', '/ml/page', { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    assert.equal(a.status, 401);
    assert.match(String(a.headers['content-type']), /text\/html/);
  });
});

test('a websocket handshake without a session: 401 JSON with the login hint on the socket', async () => {
  const port = Number(new URL(gh.url).port);
  const raw = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET /ml/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    let got = '';
    s.setEncoding('utf8').on('data', (c: string) => (got += c)).on('end', () => resolve(got)).on('error', reject);
  });
  const [head, body] = raw.split('\r\n\r\n') as [string, string];
  assert.match(head, /^HTTP\/1\.1 401 /);
  assert.match(head, /\r\nwww-authenticate: Bearer realm="gatehouse", login_url="[^"]+"/i);
  const { error } = JSON.parse(body) as { error: { login: { cli: string; browser: string } } };
  assert.equal(error.login.cli, `gatehouse login ${gh.url}`);
  assert.match(error.login.browser, /rd=%2Fml%2Fws/);
  assert.equal(upstream.seen.length, 0, 'nothing reached the upstream');
});
