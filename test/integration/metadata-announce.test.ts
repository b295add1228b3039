/**
 * Two Gatehouse instances sharing one real Redis: an on-demand IdP metadata refresh on one is
 * announced, and the other fetches the metadata itself (with its own signature check).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { metadataXml, signMetadata } from '../helpers/metadata-signer.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { TEST_IDP } from '../helpers/sp-login.js';
import { ATTACKER_KEYS, IDP_KEYS } from '../helpers/test-keys.js';

const skip = redisSkipReason();
const ADMIN_TOKEN = `admin-${'9a8b7c6d'.repeat(5)}`;
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const idp = { body: signMetadata(metadataXml({ entityId: TEST_IDP.entityId, ssoUrl: TEST_IDP.ssoUrl, certBase64s: [IDP_KEYS.certBase64] })) };
let server: ReturnType<typeof createServer>;
let redis: RunningRedis | undefined;
const instances: RunningGatehouse[] = [];

before(async () => {
  if (skip) return;
  server = createServer((_req, res) => res.writeHead(200).end(idp.body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    instances.push(
      await startGatehouse({
        config: { admin: { token: ADMIN_TOKEN }, session: { store: redis.url } },
        connections: [{ id: 'lab', idp_metadata_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`, idp_metadata_fingerprint: fp(IDP_KEYS.certPem) }],
        routes: [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ authenticated: true }] }],
      }),
    );
  }
});
after(async () => {
  for (const g of instances) await g.stop();
  await redis?.stop();
  server?.closeAllConnections();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

const certsOn = async (g: RunningGatehouse) => {
  const body = (await (await fetch(`${g.url}/.gatehouse/admin/connections`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { connections: { metadata: { certs: { fingerprint: string }[] } }[] };
  return body.connections[0]!.metadata.certs.map((c) => c.fingerprint);
};

test('a refresh asked of one instance is announced; the other fetches the new metadata itself', { skip }, async () => {
  const [a, b] = instances as [RunningGatehouse, RunningGatehouse];
  idp.body = signMetadata(metadataXml({ entityId: TEST_IDP.entityId, ssoUrl: TEST_IDP.ssoUrl, certBase64s: [IDP_KEYS.certBase64, ATTACKER_KEYS.certBase64] }));
  assert.deepEqual(await certsOn(b), [fp(IDP_KEYS.certPem)], 'control: B still has the old copy');
  const res = await fetch(`${a.url}/.gatehouse/admin/connections/lab/metadata/refresh`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const body = (await res.json()) as { refreshed: boolean; announced: boolean };
  assert.deepEqual([body.refreshed, body.announced], [true, true]);
  const want = [fp(IDP_KEYS.certPem), fp(ATTACKER_KEYS.certPem)];
  let seen: string[] = [];
  for (let i = 0; i < 40 && seen.length !== 2; i++) {
    seen = await certsOn(b);
    if (seen.length !== 2) await sleep(50);
  }
  assert.deepEqual(seen, want, 'B refreshed within 2 s');
  assert.equal(b.logs.find((l) => l.event === 'idp-metadata-refresh-announced' && l.connection === 'lab').length, 1);
  assert.equal(a.logs.find((l) => l.event === 'idp-metadata-refresh-announced').length, 0, 'A does not refresh again on its own announcement');
});
