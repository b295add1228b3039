/**
 * `gatehouse tunnel` as a real child process in front of a real Gatehouse (demo IdP, access
 * tokens of 1 minute, refreshed by the tunnel with 15 s left) and a recording upstream:
 * plain clients without headers reach the upstream as the signed-in user, over HTTP and
 * websockets, and the attacks on a local port that holds an identity are refused.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { demoLogin } from '../helpers/demo-login.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { authorizeUrlOf, cliEnv, confirmInBrowser, runCli, startCli, tempConfigDir, type CliProcess } from '../helpers/gatehouse-cli.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
let dir: string;
let tunnel: CliProcess;
let local: string;

/** Raw request through the tunnel with exactly these headers (node:http adds Host unless given). */
function raw(path: string, headers: Record<string, string>, body?: string, method = body === undefined ? 'GET' : 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${local}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
const seenAt = (url: string, method = 'GET') => upstream.seen.filter((r) => r.url === url && r.method === method);
const refreshes = () => gh.logs.find((l) => l.event === 'access' && l.path === '/.gatehouse/cli/token').length;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true, tokens: { access_ttl: '1m' } },
    connections: [{ id: 'demo', demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] }] } }],
    routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
  });
  dir = tempConfigDir();
  const login = startCli(['login', gh.url], cliEnv(dir));
  const posted = await confirmInBrowser(gh.url, await demoLogin(gh.url, 'alice'), await authorizeUrlOf(login));
  await (await fetch(posted.headers.get('location')!)).text();
  assert.equal(await login.exited, 0, login.stderr());
  const port = await freePort();
  tunnel = startCli(['tunnel', '--listen', `127.0.0.1:${port}`, gh.url], cliEnv(dir));
  local = (await tunnel.line(/^http:\/\/127\.0\.0\.1:\d+$/)).trim();
  assert.equal(local, `http://127.0.0.1:${port}`);
});
after(async () => {
  tunnel?.child.kill('SIGINT');
  await tunnel?.exited;
  await gh.stop();
  await upstream.close();
  rmSync(join(dir, '..'), { recursive: true, force: true });
});

describe('gatehouse tunnel', () => {
  test('a plain client without headers reaches the upstream as the user; no Gatehouse token upstream; its own Authorization untouched', async () => {
    const res = await raw('/plain?q=1', { authorization: 'Basic dXBzdHJlYW06c2VjcmV0', 'proxy-authorization': 'Bearer not-ours' });
    assert.equal(res.status, 200);
    assert.equal(res.body, 'ok');
    const [seen] = seenAt('/plain?q=1');
    assert.ok(seen);
    assert.equal(seen.headers['x-forwarded-user'], 'alice@example.com');
    assert.equal(seen.headers['proxy-authorization'], undefined, 'the client copy replaced by ours, and ours stripped by Gatehouse');
    assert.equal(seen.headers.authorization, 'Basic dXBzdHJlYW06c2VjcmV0', "the upstream's own credentials pass");
  });

  test('streams request and response bodies both ways', async () => {
    const body = 'x'.repeat(300_000);
    const echoed = await raw('/echo-body', { 'content-type': 'text/plain' }, body);
    assert.equal(echoed.status, 200);
    assert.equal(echoed.body.length, body.length);
    const streamed = await raw('/stream?chunks=50&size=4096', {});
    assert.equal(streamed.body.length, 50 * 4096);
  });

  test('keeps working across an access-token refresh, websocket included; a 1-minute token is not refreshed for every request', { timeout: 120_000 }, async () => {
    const before = refreshes();
    for (let i = 0; i < 3; i++) assert.equal((await raw(`/early-${i}`, {})).status, 200);
    assert.equal(refreshes(), before, 'the token is reused while it has over a quarter of its life left');
    const ws = new WebSocket(`${local.replace('http', 'ws')}/ws/across-refresh`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echo = (text: string) =>
      new Promise<string>((resolve) => {
        ws.once('message', (d) => resolve(String(d)));
        ws.send(text);
      });
    assert.equal(await echo('before'), 'before');
    const [upgrade] = seenAt('/ws/across-refresh', 'UPGRADE');
    assert.equal(upgrade?.headers['x-forwarded-user'], 'alice@example.com', 'the websocket reaches the upstream as alice');
    assert.equal(upgrade?.headers['proxy-authorization'], undefined, 'without our token');
    // The token (60 s) is refreshed once under 15 s are left: ask every 2 s until it was.
    let i = 0;
    for (const deadline = Date.now() + 80_000; refreshes() === before && Date.now() < deadline; i++) {
      const res = await raw(`/until-refresh-${i}`, {});
      assert.equal(res.status, 200, `request ${i} while waiting for the refresh`);
      if (refreshes() === before) await new Promise((r) => setTimeout(r, 2_000));
    }
    assert.equal(refreshes(), before + 1, 'refreshed once');
    assert.ok(i > 5, `the old token served several requests first (${i})`);
    assert.equal((await raw('/after-refresh', {})).status, 200);
    assert.equal(seenAt('/after-refresh')[0]?.headers['x-forwarded-user'], 'alice@example.com');
    assert.equal(await echo('after'), 'after', 'the websocket opened before the refresh still works');
    ws.close();
  });

  test('DNS rebinding: a request whose Host is not the loopback address is refused and never forwarded', async () => {
    const res = await raw('/rebound', { host: `rebind.attacker.example:${new URL(local).port}` });
    assert.equal(res.status, 403);
    assert.match(res.body, /host-not-loopback/);
    assert.equal(seenAt('/rebound').length, 0);
  });

  test('cross-site request from a web page: a foreign Origin is refused; the tunnel\'s own origin passes', async () => {
    const res = await raw('/csrf', { origin: 'https://evil.example' }, 'a=1');
    assert.equal(res.status, 403);
    assert.match(res.body, /cross-site-origin/);
    assert.equal(seenAt('/csrf', 'POST').length, 0);
    assert.equal((await raw('/same-origin', { origin: local }, 'a=1')).status, 200);
  });

  test('tunnel reachable from the network: a non-loopback --listen is refused', async () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:8501']) {
      const res = await runCli(['tunnel', '--listen', listen, gh.url], cliEnv(dir));
      assert.equal(res.code, 2, listen);
      assert.match(res.stderr, /loopback only/);
    }
  });

  test('a URL not signed in to is refused before listening', async () => {
    const res = await runCli(['tunnel', '--listen', '127.0.0.1:0', upstream.url], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /not signed in to/);
  });

  test('after logout the tunnel answers 401 and forwards nothing; SIGINT stops it', async () => {
    assert.equal((await runCli(['logout'], cliEnv(dir))).code, 0);
    const res = await raw('/after-logout', {});
    assert.equal(res.status, 401);
    assert.match(res.body, /gatehouse login/);
    assert.equal(seenAt('/after-logout').length, 0);
    tunnel.child.kill('SIGINT');
    assert.equal(await tunnel.exited, 0);
  });
});
