/**
 * `gatehouse tunnel` as a real child process in front of a real Gatehouse (demo IdP, access
 * tokens of 1 minute, refreshed by the tunnel with 15 s left) and a recording upstream:
 * plain clients without headers reach the upstream as the signed-in user, over HTTP and
 * websockets, and the attacks on a local port that holds an identity are refused. A new
 * `gatehouse login` (which revokes the session the tunnel used) is taken up without a restart.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { writeCredentials, type CredentialEntry } from '../../proxy/cli/credentials-file.js';
import { signedIn } from '../../proxy/cli/fresh-token.js';
import { TokenKeeper } from '../../proxy/cli/token-keeper.js';
import { AccessTokens } from '../../proxy/tokens/access-token.js';
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

/** Raw request through the tunnel at `base` with exactly these headers (node:http adds Host unless given). */
function rawAt(base: string, path: string, headers: Record<string, string>, body?: string, method = body === undefined ? 'GET' : 'POST'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.once('error', reject);
    req.end(body);
  });
}
const raw = (path: string, headers: Record<string, string>, body?: string) => rawAt(local, path, headers, body);
const seenAt = (url: string, method = 'GET') => upstream.seen.filter((r) => r.url === url && r.method === method);
/** `gatehouse login` as alice into `configDir`, as a user would (again: it revokes the login it replaces). */
async function login(configDir: string): Promise<void> {
  const cli = startCli(['login', gh.url], cliEnv(configDir));
  const posted = await confirmInBrowser(gh.url, await demoLogin(gh.url, 'alice'), await authorizeUrlOf(cli));
  await (await fetch(posted.headers.get('location')!)).text();
  assert.equal(await cli.exited, 0, cli.stderr());
}
const refreshes = () => gh.logs.find((l) => l.event === 'access' && l.path === '/.gatehouse/cli/token').length;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { demo: true, tokens: { access_ttl: '1m' } },
    connections: [{ id: 'demo', demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] }] } }],
    routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
  });
  dir = tempConfigDir();
  await login(dir);
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

describe('gatehouse tunnel after gatehouse login again', () => {
  let again: CliProcess;
  let base: string;
  let configDir: string;
  const switches = () => again.stderr().split('\n').filter((l) => l === `gatehouse tunnel: picked up a new login for ${gh.url}`).length;
  const stored = () => (JSON.parse(readFileSync(join(configDir, 'credentials.json'), 'utf8')) as Record<string, CredentialEntry>)[gh.url]!;

  before(async () => {
    configDir = tempConfigDir();
    await login(configDir);
    again = startCli(['tunnel', '--listen', `127.0.0.1:${await freePort()}`, gh.url], cliEnv(configDir));
    base = (await again.line(/^http:\/\/127\.0\.0\.1:\d+$/)).trim();
  });
  after(async () => {
    again?.child.kill('SIGINT');
    await again?.exited;
    rmSync(join(configDir, '..'), { recursive: true, force: true });
  });

  test('a new login is picked up without a restart: the request refused with the revoked session is sent again and answers 200; one stderr line, no token in it', async () => {
    assert.equal((await rawAt(base, '/relogin-before', {})).status, 200);
    await login(configDir); // revokes the session the tunnel uses
    const res = await rawAt(base, '/relogin-after', {});
    assert.equal(res.status, 200, res.body);
    assert.equal(seenAt('/relogin-after').length, 1, 'reached the upstream once');
    assert.equal(seenAt('/relogin-after')[0]?.headers['x-forwarded-user'], 'alice@example.com');
    assert.equal((await rawAt(base, '/relogin-next', {}, undefined, 'DELETE')).status, 200);
    assert.equal(switches(), 1, again.stderr());
    assert.doesNotMatch(again.stderr(), /gt[ar]_/, 'no token on stderr');
    assert.doesNotMatch(again.stdout(), /gt[ar]_/, 'no token on stdout');
  });

  test('a websocket opened after a new login upgrades with it', async () => {
    await login(configDir);
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws/after-relogin`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const echoed = await new Promise<string>((resolve) => {
      ws.once('message', (d) => resolve(String(d)));
      ws.send('hello');
    });
    assert.equal(echoed, 'hello');
    assert.equal(seenAt('/ws/after-relogin', 'UPGRADE')[0]?.headers['x-forwarded-user'], 'alice@example.com');
    ws.close();
    assert.equal(switches(), 2);
  });

  test('request sent twice: one with a body is not replayed after a new login; it gets the 401, the next one the new login', async () => {
    await login(configDir);
    const refused = await rawAt(base, '/relogin-post', { 'content-type': 'text/plain' }, 'a=1');
    assert.equal(refused.status, 401);
    assert.equal(seenAt('/relogin-post', 'POST').length, 0);
    assert.equal(switches(), 3, 'switched for the next requests');
    assert.equal((await rawAt(base, '/relogin-post', { 'content-type': 'text/plain' }, 'a=1')).status, 200);
    assert.equal(seenAt('/relogin-post', 'POST').length, 1);
  });

  test('challenge impersonation: an upstream\'s 401 naming Gatehouse\'s realm never reaches the client, and the tunnel sends nothing twice', async () => {
    const res = await new Promise<{ status: number; challenges: string[] }>((resolve, reject) => {
      request(`${base}/app/gatehouse-challenge`, { method: 'DELETE' }, (r) => {
        r.resume();
        const challenges: string[] = [];
        for (let i = 0; i < r.rawHeaders.length; i += 2) if (r.rawHeaders[i]!.toLowerCase() === 'www-authenticate') challenges.push(r.rawHeaders[i + 1]!);
        r.on('end', () => resolve({ status: r.statusCode ?? 0, challenges }));
      })
        .once('error', reject)
        .end();
    });
    assert.equal(res.status, 401);
    assert.deepEqual(res.challenges, ['Bearer realm="mlflow"'], 'only the upstream\'s own challenge');
    assert.equal(seenAt('/app/gatehouse-challenge', 'DELETE').length, 1, 'sent once: not taken for a token refusal');
    assert.equal(switches(), 3);
  });

  test('a stored access token Gatehouse refuses (sealed under a secret rotated out) is refreshed once, not sent until it expires', async () => {
    const dir2 = tempConfigDir();
    try {
      await login(dir2);
      const path = join(dir2, 'credentials.json');
      const creds = JSON.parse(readFileSync(path, 'utf8')) as Record<string, CredentialEntry>;
      const sealedElsewhere = new AccessTokens(['a-secret-this-gatehouse-does-not-have-0123456789']).seal({ id: 'A'.repeat(22), key: 'B'.repeat(43) }, Date.now(), Date.now() + 3_600_000);
      creds[gh.url] = { ...creds[gh.url]!, access_token: sealedElsewhere, access_expires_at: new Date(Date.now() + 3_600_000).toISOString() };
      writeCredentials(path, creds);
      const t = startCli(['tunnel', '--listen', `127.0.0.1:${await freePort()}`, gh.url], cliEnv(dir2));
      try {
        const at = (await t.line(/^http:\/\/127\.0\.0\.1:\d+$/)).trim();
        const before = refreshes();
        const res = await rawAt(at, '/refused-access-token', {});
        assert.equal(res.status, 200, res.body);
        assert.equal(seenAt('/refused-access-token').length, 1);
        assert.equal(refreshes() - before, 1, 'one refresh');
        assert.equal((await rawAt(at, '/refused-access-token-next', {})).status, 200);
        assert.equal(refreshes() - before, 1, 'and the refreshed token serves on');
      } finally {
        t.child.kill('SIGINT');
        await t.exited;
      }
    } finally {
      rmSync(join(dir2, '..'), { recursive: true, force: true });
    }
  });

  test('a revoked login with no newer one in the file: 401 with the hint to run gatehouse login, nothing forwarded', async () => {
    const revoked = await fetch(`${gh.url}/.gatehouse/cli/revoke`, { method: 'POST', body: new URLSearchParams({ token: stored().refresh_token, client_id: 'gatehouse-cli' }) });
    assert.equal(revoked.status, 200);
    const res = await rawAt(base, '/revoked-no-newer', {});
    assert.equal(res.status, 401);
    const { error } = JSON.parse(res.body) as { error: { code: string; login: { cli: string } } };
    assert.equal(error.code, 'TOKEN_INVALID');
    assert.equal(error.login.cli, `gatehouse login ${gh.url}`);
    assert.equal(seenAt('/revoked-no-newer').length, 0);
    assert.equal(switches(), 3, 'nothing picked up');
  });

  test('a refused refresh token: the file is read again and the newer login refreshed; with none, the session-ended hint', async () => {
    const env = cliEnv(configDir);
    await login(configDir);
    const old = signedIn(gh.url, env);
    old.entry.access_expires_at = new Date(0).toISOString(); // due for a refresh
    await login(configDir); // revokes `old`, before the keeper reads the file: only the refusal tells
    const said: string[] = [];
    const keeper = new TokenKeeper(old, { origin: gh.url, onSwitch: (issuer) => said.push(issuer) });
    const token = await keeper.get();
    assert.deepEqual(said, [gh.url]);
    assert.equal(token, stored().access_token);
    assert.equal((await fetch(`${gh.url}/keeper-relogin`, { headers: { 'proxy-authorization': `Bearer ${token}` } })).status, 200);

    const ended = signedIn(gh.url, env);
    ended.entry.access_expires_at = new Date(0).toISOString();
    await fetch(`${gh.url}/.gatehouse/cli/revoke`, { method: 'POST', body: new URLSearchParams({ token: ended.entry.refresh_token, client_id: 'gatehouse-cli' }) });
    await assert.rejects(new TokenKeeper(ended, { origin: gh.url }).get(), new RegExp(`session at ${gh.url} has ended: run gatehouse login ${gh.url}$`));
  });
});
