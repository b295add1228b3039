/**
 * The StateStore contract against a real `redis-server` (spawned here on a free port, stopped by
 * its pid), plus what only Redis can get wrong: two connections sharing entries (two Gatehouse
 * instances), key prefixes keeping deployments apart, and failing closed when Redis is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RedisStateStore } from '../../proxy/store/redis-state-store.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { contract } from '../helpers/state-store-contract.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

let redis: RunningRedis | undefined;
let prefixes = 0;
const connect = (prefix = `t${++prefixes}:`) => RedisStateStore.connect({ url: redis!.url, keyPrefix: prefix });

describe('Redis state store', { skip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  contract('redis', async () => ({ store: await connect(), elapse: (ms) => new Promise((r) => setTimeout(r, ms)) }), 400);

  test('a login started on instance A is finished on instance B: two connections share entries', async () => {
    const a = await connect('shared:');
    const b = await connect('shared:');
    await a.put('login:r1', 'nonce-hash', 10_000);
    assert.equal(await b.take('login:r1'), 'nonce-hash');
    assert.equal(await a.take('login:r1'), undefined, 'consumed once across instances');
    await Promise.all([a.close(), b.close()]);
  });

  test('replay across instances: an assertion ID claimed on A is refused on B', async () => {
    const a = await connect('replay:');
    const b = await connect('replay:');
    const claims = await Promise.all([a.putIfAbsent('assertion:_id1', '1', 10_000), b.putIfAbsent('assertion:_id1', '1', 10_000)]);
    assert.deepEqual(claims.sort(), [false, true]);
    await Promise.all([a.close(), b.close()]);
  });

  test('key prefixes keep deployments apart', async () => {
    const prod = await connect('prod:');
    const staging = await connect('staging:');
    await prod.put('k', 'prod', 10_000);
    assert.equal(await staging.get('k'), undefined);
    await Promise.all([prod.close(), staging.close()]);
  });

  test('Redis gone: commands fail at once (no offline queue), and connecting fails within its timeout', async () => {
    const other = await startRedis();
    const s = await RedisStateStore.connect({ url: other.url, keyPrefix: 'gone:', connectTimeoutMs: 1000 });
    await other.stop();
    const t0 = Date.now();
    await assert.rejects(s.get('k'));
    assert.ok(Date.now() - t0 < 3000, 'failed fast instead of queueing');
    await s.close();
    await assert.rejects(RedisStateStore.connect({ url: other.url, keyPrefix: 'gone:', connectTimeoutMs: 500 }));
  });
});
