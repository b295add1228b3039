/**
 * Service accounts (issue 6 point 4) through a running Gatehouse: `gts_` tokens minted by the
 * admin API and `gatehouse tokens`, used as `Authorization: Bearer`, decided by policies as the
 * account with the groups the CURRENT config gives it, never forwarded, never logged, ended by
 * expiry, revocation (on every instance: two instances share a real redis-server) and by a
 * reload that removes the account or a group.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { parse, stringify } from 'yaml';
import { jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_TOKEN = `admin-${'a1b2c3d4'.repeat(5)}`;
const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const users = [
  { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] },
  { name: 'root', email: 'root@example.com', groups: ['gatehouse-admins'] },
];
const SERVICE_ACCOUNTS = {
  'ci-bot': { groups: ['ml-engineers', 'data'], max_ttl: '2h', description: 'CI pipeline' },
  'admin-bot': { groups: ['gatehouse-admins'] },
};
const routes = (upstream: string) => [
  { name: 'models', path: '/models', upstream, allow: [{ groups: ['ml-engineers'] }] },
  { name: 'data', path: '/data', upstream, allow: [{ groups: ['data'] }] },
  { name: 'finance', path: '/finance', upstream, allow: [{ groups: ['finance'] }] },
  { name: 'fresh', path: '/fresh', upstream, allow: [{ groups: ['ml-engineers'] }], max_authn_age: '1h' },
  { name: 'ci-only', path: '/ci-only', upstream, allow: [{ connections: ['service-account'] }], forward_groups: 'all' },
];

/** Every token minted in this file: none may ever appear in a log line. */
const minted: string[] = [];

interface Minted {
  token: string;
  id: string;
  service_account: string;
  expires_at: string;
}

async function mint(base: string, account: string, body: Record<string, unknown> = { ttl: '1h' }): Promise<Minted> {
  const res = await fetch(`${base}/.gatehouse/admin/service-accounts/${account}/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const made = (await res.json()) as Minted;
  assert.equal(res.status, 201, JSON.stringify(made));
  minted.push(made.token);
  return made;
}

const adminCall = (base: string, path: string, init: RequestInit = {}) =>
  fetch(`${base}/.gatehouse/admin/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers } });

/** A request to a route with a bearer token, as curl would send it (JSON wanted). */
async function call(base: string, path: string, token: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: { code: string; reason?: string } } }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...headers }, redirect: 'manual' });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : {} };
}

describe('service accounts (memory store)', () => {
  let gh: RunningGatehouse;
  let upstream: TestUpstream;
  const configFile = () => join(gh.dir, 'gatehouse.yaml');
  const last = () => upstream.seen.at(-1)!;

  /** Rewrites `service_accounts` in the config file and reloads (as SIGHUP would). */
  async function reloadWith(accounts: Record<string, unknown>): Promise<void> {
    const config = parse(readFileSync(configFile(), 'utf8')) as Record<string, unknown>;
    writeFileSync(configFile(), stringify({ ...config, service_accounts: accounts }));
    const status = await gh.app.reload();
    assert.equal(status.status, 'current', JSON.stringify(status));
  }

  before(async () => {
    upstream = await startTestUpstream();
    gh = await startGatehouse({
      config: { demo: true, server: { watch_policies: false }, admin: { token: ADMIN_TOKEN, groups: ['gatehouse-admins'] }, service_accounts: SERVICE_ACCOUNTS },
      connections: [{ id: 'demo', demo_idp: { users } }],
      routes: routes(upstream.url),
    });
  });
  after(async () => {
    await gh?.stop();
    await upstream?.close();
  });

  test('minted by the admin API: 201 with the token once; it works like curl would use it, as the account with its groups', async () => {
    const made = await mint(gh.url, 'ci-bot', { ttl: '90m', description: 'nightly build' });
    assert.match(made.token, /^gts_[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    assert.equal(made.token.slice(4, 26), made.id, 'the id is the public half');
    assert.equal(made.service_account, 'ci-bot');
    const ttl = Date.parse(made.expires_at) - Date.now();
    assert.ok(ttl > 89 * 60_000 && ttl <= 90 * 60_000, `expires in 90m, got ${ttl} ms`);
    const res = await call(gh.url, '/models/v1/predict', made.token);
    assert.equal(res.status, 200);
    assert.equal(last().headers['x-forwarded-user'], 'ci-bot');
    assert.equal(last().headers['x-forwarded-groups'], 'ml-engineers', "the route's own groups only (minimized as for users)");
    assert.equal((await call(gh.url, '/data/x', made.token)).status, 200);
    assert.equal((await call(gh.url, '/ci-only/x', made.token)).status, 200, 'policies may name the service-account connection');
    assert.equal(last().headers['x-forwarded-groups'], 'ml-engineers,data', 'forward_groups: all');
  });

  test('policies treat it like a user with those groups: a route for another group refuses it (403, reason given)', async () => {
    const { token } = await mint(gh.url, 'ci-bot');
    const before = upstream.seen.length;
    const res = await call(gh.url, '/finance/report', token);
    assert.equal(res.status, 403);
    assert.equal(res.body.error?.code, 'ACCESS_DENIED');
    assert.equal(res.body.error?.reason, 'groups-unauthorized');
    assert.equal(upstream.seen.length, before, 'nothing reached the upstream');
    const decision = gh.logs.find((l) => l.event === 'decision' && l.route === 'finance').at(-1);
    assert.equal(decision?.user, 'ci-bot');
  });

  test('token leak to the upstream: the Authorization header carrying it is dropped (echo upstream sees no trace)', async () => {
    const { token } = await mint(gh.url, 'ci-bot');
    assert.equal((await call(gh.url, '/models/echo', token, { 'x-other': 'kept' })).status, 200);
    const seen = last();
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers['x-other'], 'kept');
    assert.ok(!seen.rawHeaders.join('\n').includes(token.slice(4)), 'no part of the token in any upstream header');
    assert.ok(!seen.rawHeaders.join('\n').includes('gts_'));
  });

  test("a foreign Authorization (the upstream's own credential) is left alone for cookie users", async () => {
    const alice = await demoLogin(gh.url, 'alice');
    const res = await jarFetch(alice, `${gh.url}/models/x`, { headers: { authorization: 'Bearer upstream-own-token', accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.equal(last().headers.authorization, 'Bearer upstream-own-token');
    assert.equal(last().headers['x-forwarded-user'], 'alice@example.com');
  });

  test('step-up routes refuse service tokens (no login to step up): 401 STEP_UP_REQUIRED, nothing forwarded', async () => {
    const { token } = await mint(gh.url, 'ci-bot');
    const before = upstream.seen.length;
    const res = await call(gh.url, '/fresh/x', token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'STEP_UP_REQUIRED');
    assert.equal(upstream.seen.length, before);
  });

  test('ttl above max_ttl is refused (400 with the limit); bad ttl, unknown account and bad description refused', async () => {
    const post = (account: string, body: unknown) => adminCall(gh.url, `service-accounts/${account}/tokens`, { method: 'POST', body: JSON.stringify(body) });
    const above = await post('ci-bot', { ttl: '3h' });
    assert.equal(above.status, 400);
    const body = (await above.json()) as { error: { code: string; reason: string; detail: string } };
    assert.equal(body.error.code, 'BAD_REQUEST');
    assert.equal(body.error.reason, 'ttl-above-max-ttl');
    assert.match(body.error.detail, /max_ttl \(2h\)/);
    assert.equal((await post('ci-bot', { ttl: 'forever' })).status, 400);
    assert.equal((await post('ci-bot', { ttl: 3600 })).status, 400);
    assert.equal((await post('ci-bot', { ttl: '1h', description: 'x'.repeat(201) })).status, 400);
    assert.equal((await post('nobody', { ttl: '1h' })).status, 404);
    const exact = await post('ci-bot', { ttl: '2h' });
    assert.equal(exact.status, 201, 'exactly max_ttl is allowed (control)');
    minted.push(((await exact.json()) as Minted).token);
  });

  test('expired token: 401 TOKEN_INVALID once its ttl has passed', async () => {
    const { token } = await mint(gh.url, 'ci-bot', { ttl: '1s' });
    assert.equal((await call(gh.url, '/models/x', token)).status, 200);
    await sleep(1_150);
    const res = await call(gh.url, '/models/x', token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'TOKEN_INVALID');
  });

  test('revoked token: 401 at once; revoking again is 404; the endpoint never ends a browser session', async () => {
    const made = await mint(gh.url, 'ci-bot');
    assert.equal((await call(gh.url, '/models/x', made.token)).status, 200, 'in the cache now');
    const del = await adminCall(gh.url, `service-accounts/tokens/${made.id}`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.deepEqual(await del.json(), { revoked: 1, ids: [made.id] });
    const res = await call(gh.url, '/models/x', made.token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'TOKEN_INVALID');
    assert.equal((await adminCall(gh.url, `service-accounts/tokens/${made.id}`, { method: 'DELETE' })).status, 404);
    const line = gh.logs.find((l) => l.event === 'service-token-revoked' && l.id === made.id)[0];
    assert.equal(line?.by, 'token');
    assert.equal(line?.service_account, 'ci-bot');
    const alice = await demoLogin(gh.url, 'alice');
    const aliceId = alice.get('gatehouse_session')!.split('.')[0]!;
    assert.equal((await adminCall(gh.url, `service-accounts/tokens/${aliceId}`, { method: 'DELETE' })).status, 404);
    assert.equal((await jarFetch(alice, `${gh.url}/models/x`, { headers: { accept: 'application/json' } })).status, 200, 'alice still signed in');
  });

  test('forged service token: random id and key, a valid id with a wrong key, malformed, a cookie dressed as one: 401 TOKEN_INVALID', async () => {
    const made = await mint(gh.url, 'ci-bot');
    const randomId = randomBytes(16).toString('base64url');
    const randomKey = randomBytes(32).toString('base64url');
    const alice = await demoLogin(gh.url, 'alice');
    const forged = [`gts_${randomId}.${randomKey}`, `gts_${made.id}.${randomKey}`, 'gts_', 'gts_not-a-token', `gts_${made.token.slice(4)}x`, `gts_${alice.get('gatehouse_session')!}`];
    for (const token of forged) {
      const res = await call(gh.url, '/models/x', token);
      assert.equal(res.status, 401, token);
      assert.equal(res.body.error?.code, 'TOKEN_INVALID', token);
    }
    assert.equal((await call(gh.url, '/models/x', made.token)).status, 200, 'the genuine one still works (control)');
  });

  test('ReDoS through the Authorization header: 30 KB of spaces inside a gts_ bearer is refused at once', async () => {
    const started = Date.now();
    const res = await call(gh.url, '/models/x', `gts_${' '.repeat(30_000)}x`);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'TOKEN_INVALID');
    assert.ok(Date.now() - started < 500, `took ${Date.now() - started} ms`);
  });

  test('no fallback: an invalid service token with a valid cookie is 401 TOKEN_INVALID, never the cookie user', async () => {
    const alice = await demoLogin(gh.url, 'alice');
    const res = await jarFetch(alice, `${gh.url}/models/x`, { headers: { authorization: `Bearer gts_${randomBytes(16).toString('base64url')}.x`, accept: 'text/html' } });
    assert.equal(res.status, 401, 'not a redirect to sign in either');
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'TOKEN_INVALID');
  });

  test('service token replayed as a cookie: opens nothing on routes, nor the admin API (even for an account in an admin group)', async () => {
    const { token } = await mint(gh.url, 'admin-bot');
    const cookie = `gatehouse_session=${token.slice(4)}`;
    const route = await fetch(`${gh.url}/ci-only/x`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(route.status, 401);
    assert.equal(((await route.json()) as { error: { code: string } }).error.code, 'AUTHENTICATION_REQUIRED');
    const adminRes = await fetch(`${gh.url}/.gatehouse/admin/service-accounts/tokens`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(adminRes.status, 401);
  });

  test('CLI or service token pasted into the cookie: userinfo/logout treat it as nobody', async () => {
    const { token } = await mint(gh.url, 'admin-bot');
    const cookie = `gatehouse_session=${token.slice(4)}`;
    const info = await fetch(`${gh.url}/.gatehouse/userinfo`, { headers: { cookie, accept: 'application/json' } });
    assert.equal(info.status, 401, 'userinfo: nobody is signed in');
    const confirm = (await (await fetch(`${gh.url}/.gatehouse/logout`, { headers: { cookie, accept: 'application/json' } })).json()) as { signed_in: boolean; sign_out: { csrf?: string } };
    assert.equal(confirm.signed_in, false, 'the logout page sees nobody');
    assert.equal(confirm.sign_out.csrf, undefined);
    const out = await fetch(`${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { cookie, origin: gh.url, accept: 'application/json' } });
    assert.equal(out.status, 200);
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 0 });
    assert.equal(gh.logs.find((l) => l.event === 'logout' && l.user === 'admin-bot').length, 0, 'no logout of the account is logged');
    assert.equal((await call(gh.url, '/ci-only/x', token)).status, 200, 'the service token still works: a cookie cannot end it');
  });

  test('non-admins cannot mint: no credentials, a signed-in non-admin, a service token (of an admin-group account), a cross-site admin', async () => {
    const post = (headers: Record<string, string>) => fetch(`${gh.url}/.gatehouse/admin/service-accounts/ci-bot/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...headers }, body: '{"ttl":"1h"}' });
    assert.equal((await post({})).status, 401);
    const alice = await demoLogin(gh.url, 'alice');
    assert.equal((await post({ cookie: alice.header()!, origin: gh.url })).status, 403);
    const { token } = await mint(gh.url, 'admin-bot');
    assert.equal((await post({ authorization: `Bearer ${token}` })).status, 401);
    const root = await demoLogin(gh.url, 'root');
    assert.equal((await post({ cookie: root.header()!, origin: 'https://evil.example' })).status, 403, 'CSRF');
    const ok = await post({ cookie: root.header()!, origin: gh.url });
    assert.equal(ok.status, 201, 'an admin-group member from our origin may (control)');
    const made = (await ok.json()) as Minted;
    minted.push(made.token);
    const line = gh.logs.find((l) => l.event === 'service-token-created' && l.id === made.id)[0];
    assert.equal(line?.by, 'user:root@example.com');
  });

  test('listing never shows the secret: ids, account, times; filtered by account', async () => {
    const made = await mint(gh.url, 'admin-bot');
    await call(gh.url, '/ci-only/x', made.token);
    const all = (await (await adminCall(gh.url, 'service-accounts/tokens')).json()) as { tokens: { id: string; service_account: string; created_at: string; expires_at: string; last_used_at: string }[] };
    const mine = all.tokens.find((t) => t.id === made.id);
    assert.ok(mine, 'listed');
    assert.deepEqual(Object.keys(mine).sort(), ['created_at', 'expires_at', 'id', 'last_used_at', 'service_account']);
    assert.equal(mine.service_account, 'admin-bot');
    assert.equal(mine.expires_at, made.expires_at);
    assert.ok(all.tokens.some((t) => t.service_account === 'ci-bot'), 'every account listed without a filter');
    const text = JSON.stringify(all);
    for (const token of minted.filter(Boolean)) assert.ok(!text.includes(token.slice(token.indexOf('.') + 1)), 'no key half in the listing');
    const one = (await (await adminCall(gh.url, 'service-accounts/tokens?service_account=admin-bot')).json()) as { tokens: { service_account: string }[] };
    assert.ok(one.tokens.length > 0 && one.tokens.every((t) => t.service_account === 'admin-bot'));
    const alice = await demoLogin(gh.url, 'alice');
    const aliceId = alice.get('gatehouse_session')!.split('.')[0]!;
    assert.ok(!text.includes(aliceId) && !JSON.stringify(await (await adminCall(gh.url, 'service-accounts/tokens')).json()).includes(aliceId), 'browser sessions are not service tokens');
  });

  test('gatehouse tokens create|list|revoke (child process, admin API of the running instance)', async () => {
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'tokens', ...args, '--config', configFile()], { cwd: ROOT });
    const created = await cli('create', '--service-account', 'ci-bot', '--ttl', '1h', '--description', 'from the CLI');
    const token = created.stdout.trim();
    minted.push(token);
    assert.match(token, /^gts_\S+$/, 'only the token on stdout');
    assert.match(created.stderr, /shown once/);
    assert.ok(!created.stderr.includes(token.slice(4)), 'the token only once');
    assert.equal((await call(gh.url, '/models/x', token)).status, 200);
    const id = token.slice(4, token.indexOf('.'));
    const listed = await cli('list', '--service-account', 'ci-bot');
    assert.ok(listed.stdout.includes(id), listed.stdout);
    assert.ok(!listed.stdout.includes(token.slice(token.indexOf('.') + 1)));
    const json = JSON.parse((await cli('list', '--json')).stdout) as { tokens: { id: string }[] };
    assert.ok(json.tokens.some((t) => t.id === id));
    const revoked = await cli('revoke', id);
    assert.match(revoked.stdout, new RegExp(`revoked token ${id}`));
    assert.equal((await call(gh.url, '/models/x', token)).status, 401);
    const again = await cli('revoke', id).then(() => undefined, (e: { code: number; stdout: string }) => e);
    assert.equal(again?.code, 1, 'revoking an unknown token exits 1');
    const tooLong = await cli('create', '--service-account', 'ci-bot', '--ttl', '3h').then(() => undefined, (e: { code: number; stderr: string }) => e);
    assert.equal(tooLong?.code, 1);
    assert.match(tooLong!.stderr, /max_ttl \(2h\)/);
    const usage = await cli('create').then(() => undefined, (e: { code: number }) => e);
    assert.equal(usage?.code, 2);
  });

  test("reload: a group removed takes effect at once; an account removed stops its tokens (TOKEN_INVALID); restored, they work again", async () => {
    const { token } = await mint(gh.url, 'ci-bot');
    assert.equal((await call(gh.url, '/data/x', token)).status, 200, 'cached with the data group');
    await reloadWith({ ...SERVICE_ACCOUNTS, 'ci-bot': { ...SERVICE_ACCOUNTS['ci-bot'], groups: ['ml-engineers'] } });
    assert.equal((await call(gh.url, '/data/x', token)).status, 403, 'group removed');
    assert.equal((await call(gh.url, '/ci-only/x', token)).status, 200);
    assert.equal(last().headers['x-forwarded-groups'], 'ml-engineers', 'identity headers carry the current groups');
    const { 'ci-bot': _removed, ...rest } = SERVICE_ACCOUNTS;
    await reloadWith(rest);
    const res = await call(gh.url, '/models/x', token);
    assert.equal(res.status, 401);
    assert.equal(res.body.error?.code, 'TOKEN_INVALID');
    assert.equal((await adminCall(gh.url, 'service-accounts/ci-bot/tokens', { method: 'POST', body: '{"ttl":"1h"}' })).status, 404, 'no minting for a removed account');
    const restartWarning = gh.logs.find((l) => l.event === 'policy-reload-restart-needed');
    assert.equal(restartWarning.length, 0, 'service_accounts is applied by a reload, not a restart');
    await reloadWith(SERVICE_ACCOUNTS);
    assert.equal((await call(gh.url, '/data/x', token)).status, 200);
  });

  test('websockets: the token opens one (never forwarded); revoking it or removing the account by reload closes it', async () => {
    const open = async (token: string) => {
      const ws = new WebSocket(`${gh.url.replace('http', 'ws')}/models/ws`, { headers: { authorization: `Bearer ${token}` } });
      ws.on('error', () => {});
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
      });
      return { ws, closed };
    };
    const within = (p: Promise<void>, ms: number) => Promise.race([p.then(() => true), sleep(ms).then(() => false)]);
    const first = await mint(gh.url, 'ci-bot');
    const a = await open(first.token);
    const seen = upstream.seen.filter((r) => r.method === 'UPGRADE').at(-1)!;
    assert.equal(seen.headers.authorization, undefined, 'the upgrade carries no token upstream');
    assert.equal(seen.headers['x-forwarded-user'], 'ci-bot');
    assert.equal((await adminCall(gh.url, `service-accounts/tokens/${first.id}`, { method: 'DELETE' })).status, 200);
    assert.ok(await within(a.closed, 2_000), 'revocation closes the open socket');
    const second = await mint(gh.url, 'ci-bot');
    const b = await open(second.token);
    const { 'ci-bot': _removed, ...rest } = SERVICE_ACCOUNTS;
    await reloadWith(rest);
    try {
      assert.ok(await within(b.closed, 2_000), 'removing the account closes the open socket');
      const line = gh.logs.find((l) => l.event === 'upgrade-revoked' && l.reason === 'service-account-removed');
      assert.equal(line.length, 1);
    } finally {
      await reloadWith(SERVICE_ACCOUNTS);
    }
  });

  test('token disclosure in logs: no token (nor its key half) in any log line, the audit lines included', () => {
    const text = gh.logs.text();
    const tokens = minted.filter(Boolean);
    assert.ok(tokens.length >= 10, `minted ${tokens.length}`);
    for (const token of tokens) {
      assert.ok(!text.includes(token.slice(token.indexOf('.') + 1)), `key half of ${token.slice(0, 12)}… logged`);
    }
    assert.ok(!text.includes('gts_'), 'no token prefix anywhere');
    const created = gh.logs.find((l) => l.event === 'service-token-created');
    assert.ok(created.length >= tokens.length - 1, 'one audit line per mint (the CLI one included)');
    assert.ok(created.every((l) => typeof l.id === 'string' && l.service_account && l.expires_at && l.req_id));
    assert.ok(created.some((l) => l.description === 'from the CLI'));
  });
});

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

describe('service accounts across instances (redis-server)', { skip }, () => {
  let redis: RunningRedis;
  let upstream: TestUpstream;
  let a: RunningGatehouse;
  let b: RunningGatehouse;

  before(async () => {
    redis = await startRedis();
    upstream = await startTestUpstream();
    const setup = () => ({
      config: { session: { store: redis.url }, server: { watch_policies: false }, admin: { token: ADMIN_TOKEN }, service_accounts: SERVICE_ACCOUNTS },
      connections: [{ id: 'demo', demo_idp: { users } }],
      routes: routes(upstream.url),
    });
    a = await startGatehouse({ ...setup(), config: { ...setup().config, demo: true } });
    b = await startGatehouse({ ...setup(), config: { ...setup().config, demo: true } });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await upstream?.close();
    await redis?.stop();
  });

  test('revocation reaches every instance: minted on A, cached on B, revoked on A, refused by B within a second', async () => {
    const made = await mint(a.url, 'ci-bot');
    assert.equal((await call(b.url, '/models/x', made.token)).status, 200, 'B opens a token A minted');
    assert.equal((await call(b.url, '/models/x', made.token)).status, 200, 'and has it cached');
    const listedOnB = (await (await adminCall(b.url, 'service-accounts/tokens?service_account=ci-bot')).json()) as { tokens: { id: string }[] };
    assert.ok(listedOnB.tokens.some((t) => t.id === made.id), 'B lists it');
    assert.equal((await adminCall(a.url, `service-accounts/tokens/${made.id}`, { method: 'DELETE' })).status, 200);
    const started = Date.now();
    let status = 200;
    while (Date.now() - started < 1_000 && status === 200) {
      status = (await call(b.url, '/models/x', made.token)).status;
      if (status === 200) await sleep(25);
    }
    assert.equal(status, 401, `B still accepted it ${Date.now() - started} ms after the revocation`);
    assert.equal((await call(a.url, '/models/x', made.token)).status, 401);
  });

  test('the store holds no token: a Redis dump has the id, never the key half', async () => {
    const made = await mint(a.url, 'ci-bot');
    const { execFileSync } = await import('node:child_process');
    const keys = execFileSync('redis-cli', ['-p', String(redis.port), '--scan'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(keys.some((k) => k.includes(made.id)), 'filed under its id');
    const key = made.token.slice(made.token.indexOf('.') + 1);
    for (const k of keys) {
      const type = execFileSync('redis-cli', ['-p', String(redis.port), 'type', k], { encoding: 'utf8' }).trim();
      const dump = type === 'string' ? execFileSync('redis-cli', ['-p', String(redis.port), 'get', k], { encoding: 'utf8' }) : execFileSync('redis-cli', ['-p', String(redis.port), type === 'zset' ? 'zrange' : 'lrange', k, '0', '-1'], { encoding: 'utf8' });
      assert.ok(!dump.includes(key) && !k.includes(key), `key half found under ${k}`);
    }
  });

  test('token disclosure in logs (both instances)', () => {
    for (const inst of [a, b]) {
      const text = inst.logs.text();
      assert.ok(!text.includes('gts_'));
      for (const token of minted.filter(Boolean)) assert.ok(!text.includes(token.slice(token.indexOf('.') + 1)));
    }
  });
});
