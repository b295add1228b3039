/**
 * "Who am I" from a terminal: `/.gatehouse/userinfo` opened with a Gatehouse bearer token as routes
 * open it (a CLI access token or a service-account token, in Authorization or Proxy-Authorization;
 * a token that opens nothing is 401 TOKEN_INVALID, never the cookie sent along), and the real
 * `gatehouse whoami` CLI (child process) against a real Gatehouse (in-process, demo IdP).
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { cliLogin, postForm } from '../helpers/cli-flow.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { authorizeUrlOf, cliEnv, confirmInBrowser, runCli, startCli, tempConfigDir } from '../helpers/gatehouse-cli.js';

const ADMIN_TOKEN = `admin-${'e5f6a7b8'.repeat(5)}`;
const users = [
  { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers', 'data'] },
  { name: 'bob', email: 'bob@example.com', groups: ['finance'] },
];
const SERVICE_ACCOUNTS = { 'ci-bot': { groups: ['ml-engineers', 'ci'] } };

let gh: RunningGatehouse;
const dirs: string[] = [];
/** Every token of this file: none may appear in a log line or in the CLI's output. */
const secrets: string[] = [];

before(async () => {
  gh = await startGatehouse({
    config: { demo: true, server: { watch_policies: false }, admin: { token: ADMIN_TOKEN }, service_accounts: SERVICE_ACCOUNTS },
    connections: [{ id: 'demo', demo_idp: { users } }],
    routes: [{ name: 'ml', path: '/ml', upstream: 'http://127.0.0.1:9', allow: [{ groups: ['ml-engineers'] }] }],
  });
});
after(async () => {
  await gh?.stop();
  for (const d of dirs) rmSync(join(d, '..'), { recursive: true, force: true });
});

interface Info {
  user: string;
  email: string | null;
  groups: string[];
  connection: string;
  client: string;
  expires_at: string;
  claims: Record<string, unknown>;
}
interface Answer {
  status: number;
  body: Partial<Info> & { error?: { code: string; reason?: string } };
  headers: Headers;
}

async function userinfo(headers: Record<string, string>): Promise<Answer> {
  const res = await fetch(`${gh.url}/.gatehouse/userinfo`, { headers: { accept: 'application/json', ...headers }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : {}, headers: res.headers };
}

function assertTokenInvalid(a: Answer, label: string): void {
  assert.equal(a.status, 401, label);
  assert.equal(a.body.error?.code, 'TOKEN_INVALID', label);
  assert.equal(a.body.user, undefined, `${label}: nobody's identity shown`);
  assert.match(a.headers.get('www-authenticate') ?? '', /error="invalid_token"/, label);
}

/** A browser sign-in and a CLI login it approved (tokens from the real endpoints). */
async function signIn(user: string) {
  const jar = await demoLogin(gh.url, user);
  const tokens = await cliLogin(gh.url, jar);
  secrets.push(tokens.access_token, tokens.refresh_token);
  return { jar, tokens };
}

async function mint(account: string): Promise<{ token: string; id: string; expires_at: string }> {
  const res = await fetch(`${gh.url}/.gatehouse/admin/service-accounts/${account}/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{"ttl":"1h"}' });
  assert.equal(res.status, 201);
  const made = (await res.json()) as { token: string; id: string; expires_at: string };
  secrets.push(made.token);
  return made;
}

describe('/.gatehouse/userinfo with a Gatehouse token', () => {
  test('a browser cookie: the identity, client browser (as before)', async () => {
    const jar = await demoLogin(gh.url, 'alice');
    const a = await userinfo({ cookie: jar.header()! });
    assert.equal(a.status, 200);
    assert.equal(a.body.user, 'alice@example.com');
    assert.equal(a.body.client, 'browser');
    assert.deepEqual(a.body.claims, {});
  });

  test('a CLI access token (gta_) in Authorization or Proxy-Authorization: the user, client cli, the CLI session end', async () => {
    const { tokens } = await signIn('alice');
    for (const header of ['authorization', 'proxy-authorization']) {
      const a = await userinfo({ [header]: `Bearer ${tokens.access_token}` });
      assert.equal(a.status, 200, header);
      assert.equal(a.body.user, 'alice@example.com', header);
      assert.equal(a.body.email, 'alice@example.com', header);
      assert.deepEqual(a.body.groups, ['ml-engineers', 'data'], header);
      assert.equal(a.body.connection, 'demo', header);
      assert.equal(a.body.client, 'cli', header);
      assert.equal(a.headers.get('cache-control'), 'no-store', 'an identity answered to a bearer is never cached by a shared cache');
      const end = Date.parse(a.body.expires_at!) - Date.now();
      assert.ok(end > 0 && Math.abs(end - tokens.refresh_expires_in * 1000) < 5_000, `the CLI session's end (${end} ms)`);
    }
  });

  test("a service-account token (gts_): the account, client service, its groups from the current config", async () => {
    const { token, expires_at } = await mint('ci-bot');
    const a = await userinfo({ authorization: `Bearer ${token}` });
    assert.equal(a.status, 200);
    assert.equal(a.body.user, 'ci-bot');
    assert.equal(a.body.client, 'service');
    assert.equal(a.body.connection, 'service-account');
    assert.deepEqual(a.body.groups, ['ml-engineers', 'ci']);
    assert.equal(a.body.expires_at, expires_at);
    const file = join(gh.dir, 'gatehouse.yaml');
    const config = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    try {
      writeFileSync(file, stringify({ ...config, service_accounts: { 'ci-bot': { groups: ['ci'] } } }));
      assert.equal((await gh.app.reload()).status, 'current');
      assert.deepEqual((await userinfo({ 'proxy-authorization': `Bearer ${token}` })).body.groups, ['ci'], 'a group removed by reload is gone at once');
    } finally {
      writeFileSync(file, stringify(config));
      assert.equal((await gh.app.reload()).status, 'current');
    }
  });

  test('revoked token with a valid cookie alongside: refused, no fallback to the cookie', async () => {
    const { tokens } = await signIn('alice');
    const bob = await demoLogin(gh.url, 'bob');
    const cookie = bob.header()!;
    assert.equal((await userinfo({ cookie })).body.user, 'bob@example.com', 'the cookie alone is bob');
    assert.equal((await postForm(`${gh.url}/.gatehouse/cli/revoke`, { token: tokens.refresh_token })).status, 200);
    for (const header of ['authorization', 'proxy-authorization']) {
      assertTokenInvalid(await userinfo({ cookie, [header]: `Bearer ${tokens.access_token}` }), `revoked gta_ in ${header}`);
    }
    // A browser navigation too: a refused token is never redirected to a sign-in, never a page.
    const nav = await fetch(`${gh.url}/.gatehouse/userinfo`, { headers: { cookie, accept: 'text/html', 'sec-fetch-mode': 'navigate', authorization: `Bearer ${tokens.access_token}` }, redirect: 'manual' });
    assert.equal(nav.status, 401);
    assert.match(nav.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(((await nav.json()) as { error: { code: string } }).error.code, 'TOKEN_INVALID');

    const made = await mint('ci-bot');
    const del = await fetch(`${gh.url}/.gatehouse/admin/service-accounts/tokens/${made.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(del.status, 200);
    assertTokenInvalid(await userinfo({ cookie, authorization: `Bearer ${made.token}` }), 'revoked gts_');
    assert.ok(gh.logs.find((l) => l.event === 'access' && l.path === '/.gatehouse/userinfo' && l.reason === 'session-ended').length > 0, 'the reason is logged');
  });

  test('forged or malformed token with a valid cookie alongside: refused, no fallback to the cookie', async () => {
    const { tokens } = await signIn('alice');
    const cookie = (await demoLogin(gh.url, 'bob')).header()!;
    const flipped = tokens.access_token.slice(0, 30) + (tokens.access_token[30] === 'A' ? 'B' : 'A') + tokens.access_token.slice(31);
    for (const token of [flipped, 'gta_', 'gts_nothing.here']) assertTokenInvalid(await userinfo({ cookie, authorization: `Bearer ${token}` }), token.slice(0, 8));
    assertTokenInvalid(await userinfo({ cookie, 'proxy-authorization': 'Bearer not-ours' }), 'any Proxy-Authorization bearer is ours');
    assertTokenInvalid(await userinfo({ authorization: `Bearer ${tokens.access_token}`, 'proxy-authorization': `Bearer ${flipped}` }), 'two different tokens');
    // A bearer that is not ours in Authorization is the upstream's business: the cookie decides.
    assert.equal((await userinfo({ cookie, authorization: 'Bearer upstream-token-123' })).body.user, 'bob@example.com');
  });

  test('refresh token as a bearer: refused (a refresh token only goes to the token endpoint)', async () => {
    const { jar, tokens } = await signIn('alice');
    for (const header of ['authorization', 'proxy-authorization']) {
      const a = await userinfo({ cookie: jar.header()!, [header]: `Bearer ${tokens.refresh_token}` });
      assertTokenInvalid(a, header);
    }
    assert.ok(gh.logs.find((l) => l.event === 'access' && l.path === '/.gatehouse/userinfo' && l.reason === 'refresh-token-not-bearer').length > 0);
    assert.equal((await userinfo({ authorization: `Bearer ${tokens.access_token}` })).status, 200, 'the session itself lives on');
  });
});

describe('gatehouse whoami', () => {
  function newDir(): string {
    const d = tempConfigDir();
    dirs.push(d);
    return d;
  }

  /** `gatehouse login` as `user` through the loopback redirect; returns the config dir. */
  async function loginAs(user: string): Promise<string> {
    const dir = newDir();
    const cli = startCli(['login', gh.url], cliEnv(dir));
    const authorize = await authorizeUrlOf(cli);
    const posted = await confirmInBrowser(gh.url, await demoLogin(gh.url, user), authorize);
    assert.equal(posted.status, 303);
    await (await fetch(posted.headers.get('location')!)).text();
    assert.equal(await cli.exited, 0, cli.stderr());
    const entry = (JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as Record<string, { access_token: string; refresh_token: string }>)[gh.url]!;
    secrets.push(entry.access_token, entry.refresh_token);
    return dir;
  }

  test('after a real login: prints user, email, groups, connection, client and the session end', async () => {
    const dir = await loginAs('alice');
    const res = await runCli(['whoami'], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^user {8}alice@example\.com$/m);
    assert.match(res.stdout, /^email {7}alice@example\.com$/m);
    assert.match(res.stdout, /^groups {6}ml-engineers, data$/m);
    assert.match(res.stdout, /^connection {2}demo$/m);
    assert.match(res.stdout, /^client {6}cli$/m);
    const end = /^session end (\S+)$/m.exec(res.stdout)?.[1];
    assert.ok(end && Date.parse(end) > Date.now(), `session end in the future: ${end}`);
    const byHost = await runCli(['whoami', '--host', gh.url], cliEnv(dir));
    assert.equal(byHost.code, 0, byHost.stderr);
    assert.equal(byHost.stdout, res.stdout);
  });

  test('--json prints the userinfo answer as served', async () => {
    const dir = await loginAs('bob');
    const res = await runCli(['whoami', '--json'], cliEnv(dir));
    assert.equal(res.code, 0, res.stderr);
    const info = JSON.parse(res.stdout) as Info;
    assert.equal(info.user, 'bob@example.com');
    assert.equal(info.email, 'bob@example.com');
    assert.deepEqual(info.groups, ['finance']);
    assert.equal(info.connection, 'demo');
    assert.equal(info.client, 'cli');
    assert.ok(Date.parse(info.expires_at) > Date.now());
  });

  test('not signed in: exit 1 naming gatehouse login; a wrong command line: exit 2', async () => {
    const dir = newDir();
    const none = await runCli(['whoami'], cliEnv(dir));
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^gatehouse whoami: not signed in: run gatehouse login /);
    assert.equal(none.stdout, '');
    const other = await runCli(['whoami', '--host', 'https://other.example'], cliEnv(dir));
    assert.equal(other.code, 1);
    assert.match(other.stderr, /not signed in to https:\/\/other\.example: run gatehouse login https:\/\/other\.example/);
    assert.equal((await runCli(['whoami', 'extra'], cliEnv(dir))).code, 2);
    assert.equal((await runCli(['whoami', '--nope'], cliEnv(dir))).code, 2);
  });

  test('stored access token of a session revoked elsewhere: exit 1 telling to sign in again, not the stale identity', async () => {
    const dir = await loginAs('alice');
    const { refresh_token } = (JSON.parse(readFileSync(join(dir, 'credentials.json'), 'utf8')) as Record<string, { refresh_token: string }>)[gh.url]!;
    assert.equal((await postForm(`${gh.url}/.gatehouse/cli/revoke`, { token: refresh_token })).status, 200);
    const res = await runCli(['whoami'], cliEnv(dir));
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`session at ${gh.url} has ended: run gatehouse login ${gh.url}`));
    assert.equal(res.stdout, '');
  });
});

test('no token in the Gatehouse logs', () => {
  assert.ok(secrets.length > 0);
  for (const t of secrets) assert.ok(!gh.logs.text().includes(t), 'a token was logged');
});
