/**
 * End to end with a real IdP and a real Redis: SimpleSAMLphp 1.19 in headless Chromium, two
 * Gatehouse instances sharing one redis-server (spawned here, stopped by pid) and one public URL,
 * as behind a load balancer without sticky sessions. The login starts on instance A and the IdP's
 * POST lands on instance B; the session then works on both, and a SCIM deactivation sent to one
 * ends it on the other.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { e2eSkipReason, launchBrowser, loginAtSimpleSamlPhp } from '../helpers/browser.js';
import { freePort } from '../helpers/free-port.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { simpleSamlPhpAvailable, startSimpleSamlPhp, type RunningIdp } from '../helpers/simplesamlphp.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';
import { startTogether } from '../helpers/start-together.js';

const skipReason = e2eSkipReason(simpleSamlPhpAvailable()) ?? redisSkipReason();
if (skipReason && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skipReason);
const CONNECTION = 'lab';
const SCIM_TOKEN = `scim-${'9f8e7d6c'.repeat(5)}`;

describe('two instances sharing Redis, SimpleSAMLphp in Chromium', { timeout: 120_000, skip: skipReason }, () => {
  let idp: RunningIdp | undefined;
  let redis: RunningRedis | undefined;
  let upstream: TestUpstream | undefined;
  let browser: Browser | undefined;
  let a: RunningGatehouse | undefined;
  let b: RunningGatehouse | undefined;

  before(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // Both instances answer for one public URL (B's address stands in for the load balancer).
    const publicUrl = `http://127.0.0.1:${portB}`;
    await startTogether(
      startSimpleSamlPhp().then((v) => (idp = v)),
      startRedis().then((v) => (redis = v)),
      startTestUpstream().then((v) => (upstream = v)),
      launchBrowser().then((v) => (browser = v)),
    );
    await idp!.registerSp({ entityId: `${publicUrl}/.gatehouse/saml/${CONNECTION}/metadata`, acsUrl: `${publicUrl}/.gatehouse/saml/${CONNECTION}/acs` });
    const setup = (port: number) =>
      startGatehouse({
        port,
        config: { server: { public_url: publicUrl }, session: { store: redis!.url }, admin: { scim_token: SCIM_TOKEN } },
        connections: [{ id: CONNECTION, idp_metadata_url: idp!.metadataUrl, attributes: { email: 'email', groups: 'groups' } }],
        routes: [{ name: 'ml', path: '/ml', upstream: upstream!.url, allow: [{ groups: ['ml-engineers'] }] }],
      });
    [a, b] = [await setup(portA), await setup(portB)];
  });

  after(async () => {
    await browser?.close();
    await a?.stop();
    await b?.stop();
    await upstream?.close();
    await idp?.stop();
    await redis?.stop();
  });

  it('a login started on A finishes on B (shared login state and browser binding); the session works on both; SCIM deactivation on A ends it on B', async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${a!.url}/.gatehouse/saml/${CONNECTION}/login?rd=${encodeURIComponent('/ml/notebook')}`);
      assert.ok(page.url().startsWith(idp!.baseUrl), `at the IdP, got ${page.url()}`);
      const landed = page.waitForResponse((r) => r.url() === `${b!.url}/ml/notebook` && r.request().isNavigationRequest());
      await loginAtSimpleSamlPhp(page, 'alice', 'alice-pw');
      assert.equal((await landed).status(), 200, 'B finished the login A started and served the route');
      assert.ok(a!.logs.find((l) => l.event === 'login').length === 0, 'A did not finish it');
      assert.equal(b!.logs.find((l) => l.event === 'login').length, 1);
      const cookie = (await context.cookies(b!.url)).find((c) => c.name === 'gatehouse_session');
      assert.ok(cookie, 'session cookie set');
      const viaA = await fetch(`${a!.url}/ml/from-a`, { headers: { cookie: `${cookie.name}=${cookie.value}`, accept: 'application/json' } });
      assert.equal(viaA.status, 200, 'the same session works on A');
      const user = (await (
        await fetch(`${a!.url}/.gatehouse/scim/v2/Users`, {
          method: 'POST',
          headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
          body: JSON.stringify({ schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'alice@example.com', active: true }),
        })
      ).json()) as { id: string };
      const patched = await fetch(`${a!.url}/.gatehouse/scim/v2/Users/${user.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${SCIM_TOKEN}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }),
      });
      assert.equal(patched.status, 200);
      const viaB = await fetch(`${b!.url}/ml/after`, { headers: { cookie: `${cookie.name}=${cookie.value}`, accept: 'application/json' } });
      assert.equal(viaB.status, 401, 'ended on B too');
    } finally {
      await context.close();
    }
  });
});
