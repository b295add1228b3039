/**
 * CLI tokens across two Gatehouse instances sharing one real `redis-server` (as two replicas
 * behind a load balancer): a code approved on A is redeemed on B (one-time codes live in the
 * shared state store, and still work once only), an access token made on B works on A, and a
 * revocation on one instance ends the token on the other at once, although both had the CLI
 * session in their cache a moment before.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { approve, authorizeUrl, cliLogin, pkce, postForm, startLoopback } from '../helpers/cli-flow.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);
const PROPAGATION_LIMIT_MS = 1_000;

let redis: RunningRedis;
let upstream: TestUpstream;
let a: RunningGatehouse;
let b: RunningGatehouse;

const setup = (url: string) => ({
  config: { demo: true, session: { store: url } },
  connections: [{ id: 'demo', demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] }] } }],
  routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
});

before(async () => {
  if (skip) return;
  redis = await startRedis();
  upstream = await startTestUpstream();
  a = await startGatehouse(setup(redis.url));
  b = await startGatehouse(setup(redis.url));
});
after(async () => {
  if (skip) return;
  await a?.stop();
  await b?.stop();
  await upstream?.close();
  await redis?.stop();
});

const status = async (gh: RunningGatehouse, token: string) => {
  const res = await fetch(`${gh.url}/ml/x`, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  await res.arrayBuffer();
  return res.status;
};

describe('CLI tokens with a shared Redis', { skip }, () => {
  test('a code approved on A is redeemed once on B; a revoke on one instance ends the token on the other at once', async () => {
    const jar = await demoLogin(a.url, 'alice');
    const lb = await startLoopback();
    const { verifier, challenge } = pkce();
    const approved = await approve(a.url, jar, authorizeUrl(a.url, { redirectUri: lb.redirectUri, state: randomBytes(8).toString('hex'), challenge }));
    await lb.close();
    assert.equal(approved.status, 303);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    const fields = { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: lb.redirectUri, client_id: 'gatehouse-cli' };
    const onB = await postForm(`${b.url}/.gatehouse/cli/token`, fields);
    assert.equal(onB.status, 200, JSON.stringify(onB.body));
    assert.equal((await postForm(`${a.url}/.gatehouse/cli/token`, fields)).body.error, 'invalid_grant', 'authorization code replay on the other instance');
    const access = onB.body.access_token as string;
    const refresh = onB.body.refresh_token as string;
    assert.equal(await status(a, access), 200, 'a token made on B works on A');
    assert.equal(await status(b, access), 200);

    const revoked = await postForm(`${b.url}/.gatehouse/cli/revoke`, { token: refresh });
    assert.equal(revoked.status, 200);
    const start = Date.now();
    let onA = await status(a, access);
    while (onA !== 401 && Date.now() - start < PROPAGATION_LIMIT_MS) {
      await new Promise((r) => setTimeout(r, 50));
      onA = await status(a, access);
    }
    assert.equal(onA, 401, 'revoked on B, refused on A (A had the session cached)');
    assert.equal(await status(b, access), 401);
    assert.equal((await postForm(`${a.url}/.gatehouse/cli/token`, { grant_type: 'refresh_token', refresh_token: refresh })).body.error, 'invalid_grant');
    for (const gh of [a, b]) assert.ok(!gh.logs.text().includes(access) && !gh.logs.text().includes(refresh) && !gh.logs.text().includes(code));
  });

  test('browser sign-out on one instance ends the CLI login it approved, in use on the other', async () => {
    const jar = await demoLogin(a.url, 'alice');
    const tokens = await cliLogin(a.url, jar);
    assert.equal(await status(b, tokens.access_token), 200, 'cached on B');
    const out = await jarFetch(jar, `${a.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: a.url, accept: 'application/json' } });
    assert.deepEqual(await out.json(), { signed_out: true, cli_sessions_ended: 1 });
    const start = Date.now();
    let onB = await status(b, tokens.access_token);
    while (onB !== 401 && Date.now() - start < PROPAGATION_LIMIT_MS) {
      await new Promise((r) => setTimeout(r, 50));
      onB = await status(b, tokens.access_token);
    }
    assert.equal(onB, 401, 'signed out on A, refused on B');
  });
});
