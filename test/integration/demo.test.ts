import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import { Gatehouse } from '../../proxy/server/app.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin, demoLoginUntilAcs, postToAcs } from '../helpers/demo-login.js';
import { freePort } from '../helpers/free-port.js';
import { captureLogs } from '../helpers/log-capture.js';
import { createLocalJWKSet, jwtVerify } from 'jose';

/**
 * The embedded default (`npm start`): the real demo/config.yaml and demo/policies, moved to
 * free ports so the test never collides with a running demo.
 */
let app: Gatehouse;
let url: string;

before(async () => {
  const [port, upstreamPort] = [await freePort(), await freePort()];
  const loaded = loadConfig(new URL('../../demo/config.yaml', import.meta.url).pathname, {});
  loaded.config.server.listen = { host: '127.0.0.1', port };
  loaded.config.server.public_url = `http://127.0.0.1:${port}/`;
  loaded.config.demo_upstream = { listen: { host: '127.0.0.1', port: upstreamPort } };
  for (const f of loaded.policies) for (const r of f.policy.routes) r.upstream = `http://127.0.0.1:${upstreamPort}/`;
  app = await Gatehouse.start({ loaded, log: captureLogs().log });
  url = `http://127.0.0.1:${port}`;
});

after(async () => {
  await app?.stop();
});

describe('embedded demo', () => {
  test('the user picker says it is for local trial only', async () => {
    const start = await fetch(`${url}/.gatehouse/saml/demo/login?rd=/notebooks`, { redirect: 'manual' });
    const picker = await (await fetch(start.headers.get('location')!)).text();
    assert.match(picker, /Demo IdP — for local trial only/);
    assert.match(picker, /alice@example\.com/);
  });

  test('alice signs in with the picker and the demo upstream sees her identity', async () => {
    const jar = await demoLogin(url, 'alice', { rd: '/notebooks/lab' });
    const res = await jarFetch(jar, `${url}/notebooks/lab`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { identity: { user: string; groups: string[] } };
    assert.equal(body.identity.user, 'alice@example.com');
    // Only the groups the notebooks route names are forwarded (forward_groups: mentioned).
    assert.deepEqual(body.identity.groups, ['ml-engineers']);
  });

  test('bob is refused on notebooks, carol reaches home but not reports', async () => {
    const bob = await demoLogin(url, 'bob');
    assert.equal((await jarFetch(bob, `${url}/notebooks`, { headers: { accept: 'application/json' } })).status, 403);
    assert.equal((await jarFetch(bob, `${url}/reports`)).status, 200);
    const carol = await demoLogin(url, 'carol');
    assert.equal((await jarFetch(carol, `${url}/`)).status, 200);
    assert.equal((await jarFetch(carol, `${url}/reports`, { headers: { accept: 'application/json' } })).status, 403);
  });

  test('reports carries the identity JWT, verifiable with the published JWKS; notebooks does not', async () => {
    const bob = await demoLogin(url, 'bob');
    const seen = (await (await jarFetch(bob, `${url}/reports/q3`)).json()) as { headers: Record<string, string> };
    const jwt = seen.headers['x-gatehouse-jwt-assertion'];
    assert.ok(jwt, 'the demo upstream received the JWT');
    const jwks = createLocalJWKSet((await (await fetch(`${url}/.well-known/gatehouse/jwks.json`)).json()) as Parameters<typeof createLocalJWKSet>[0]);
    const { payload } = await jwtVerify(jwt, jwks, { issuer: url, audience: 'reports' });
    assert.equal(payload.sub, 'bob@example.com');
    const alice = await demoLogin(url, 'alice');
    const other = (await (await jarFetch(alice, `${url}/notebooks/x`)).json()) as { headers: Record<string, string> };
    assert.equal(other.headers['x-gatehouse-jwt-assertion'], undefined);
  });

  test('a public route needs no sign-in', async () => {
    assert.equal((await fetch(`${url}/status`)).status, 200);
  });

  test('demo IdP refuses an unknown user and requests not from our SP', async () => {
    const steps = await demoLoginUntilAcs(url, 'alice');
    const forged = await fetch(`${url}/.gatehouse/demo-idp/sso`, {
      method: 'POST',
      body: new URLSearchParams({ SAMLRequest: Buffer.from('<x/>').toString('base64'), user: 'alice' }),
    });
    assert.equal(forged.status, 400);
    const res = await postToAcs(steps);
    assert.equal(res.status, 303, 'the genuine flow still works');
  });
});
