/**
 * Two starts against one real Redis: the second with another public_url (so another SP entity
 * ID) logs SP_ENTITY_ID_CHANGED at error level, once, and still serves.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { idpMetadataXml, startGatehouse } from '../helpers/gatehouse.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';

const skip = redisSkipReason();
let redis: RunningRedis;
before(async () => {
  if (!skip) redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

test('a start with a changed SP entity ID is logged once against the shared store', { skip }, async () => {
  const files = { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) };
  const session = { store: 'redis', redis: { url: redis.url, key_prefix: 'eid:' } };
  const routes = [{ name: 'app', path: '/', upstream: 'http://127.0.0.1:9', allow: [{ authenticated: true }] }];
  const first = await startGatehouse({ files, routes, config: { session }, connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] });
  await first.stop();
  assert.equal(first.logs.find((l) => l.code === 'SP_ENTITY_ID_CHANGED').length, 0, 'first publication: nothing to say');
  const moved = await startGatehouse({ files, routes, config: { session }, connections: [{ id: 'lab', idp_metadata_file: 'idp.xml', entity_id: 'https://moved.example/sp' }] });
  try {
    const lines = moved.logs.find((l) => l.code === 'SP_ENTITY_ID_CHANGED');
    assert.equal(lines.length, 1, moved.logs.text());
    assert.equal(lines[0]!.published, `${first.url}/.gatehouse/saml/lab/metadata`);
    assert.equal(lines[0]!.now, 'https://moved.example/sp');
    assert.equal((await fetch(`${moved.url}/.gatehouse/saml/lab/metadata`)).status, 200, 'still serves');
  } finally {
    await moved.stop();
  }
});
