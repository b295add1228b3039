/**
 * One contract for both audit stores (memory, and a real redis-server): newest first, `since`,
 * paging, per-email index, the total bound (oldest first, their entries deleted), trimming by the
 * retention on the injected clock, and Redis keys that expire by themselves.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MemoryAuditStore } from '../../proxy/audit/memory-audit-store.js';
import { RedisAuditStore } from '../../proxy/audit/redis-audit-store.js';
import type { AuditStore } from '../../proxy/audit/saml-audit-types.js';
import { ManualClock } from '../../proxy/clock.js';
import type { RedisConnection } from '../../proxy/store/redis-connection.js';
import { openTestConnection } from '../helpers/redis-store.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);
const HOUR = 3_600_000;

let redis: RunningRedis | undefined;
let conn: RedisConnection | undefined;
before(async () => {
  if (skip) return;
  redis = await startRedis();
});
after(async () => {
  await conn?.close();
  await redis?.stop();
});

function contract(name: string, make: (clock: ManualClock) => Promise<AuditStore>, opts: { skip?: string } = {}) {
  describe(`audit store contract: ${name}`, { skip: opts.skip }, () => {
    const entry = (id: string, at: number) => ({ id, at, sealed: `sealed-${id}` });

    test('newest first, since, paging, and the per-email index', async () => {
      const clock = new ManualClock(Date.now());
      const store = await make(clock);
      const t = clock.now();
      await store.add(entry('a', t), ['k1'], HOUR, 100);
      await store.add(entry('b', t + 10), ['k2'], HOUR, 100);
      await store.add(entry('c', t + 20), ['k1'], HOUR, 100);
      assert.deepEqual((await store.recent(undefined, 0, 10, 0)).map((e) => e.id), ['c', 'b', 'a']);
      assert.deepEqual((await store.recent(undefined, t + 10, 10, 0)).map((e) => e.id), ['c', 'b']);
      assert.deepEqual((await store.recent(undefined, 0, 2, 1)).map((e) => e.id), ['b', 'a']);
      assert.deepEqual((await store.recent('k1', 0, 10, 0)).map((e) => `${e.id}@${e.at - t}:${e.sealed}`), ['c@20:sealed-c', 'a@0:sealed-a']);
      assert.deepEqual(await store.recent('nobody', 0, 10, 0), []);
    });

    test('past max entries the oldest go first, from every index', async () => {
      const clock = new ManualClock(Date.now());
      const store = await make(clock);
      const t = clock.now();
      for (let i = 0; i < 5; i++) await store.add(entry(`e${i}`, t + i), ['k'], HOUR, 3);
      assert.deepEqual((await store.recent(undefined, 0, 10, 0)).map((e) => e.id), ['e4', 'e3', 'e2']);
      assert.deepEqual((await store.recent('k', 0, 10, 0)).map((e) => e.id), ['e4', 'e3', 'e2']);
    });

    test('entries older than the retention (injected clock) are gone at the next write', async () => {
      const clock = new ManualClock(Date.now());
      const store = await make(clock);
      await store.add(entry('old', clock.now()), ['k'], HOUR, 100);
      clock.advance(HOUR + 1);
      await store.add(entry('new', clock.now()), ['k'], HOUR, 100);
      assert.deepEqual((await store.recent(undefined, 0, 10, 0)).map((e) => e.id), ['new']);
      assert.deepEqual((await store.recent('k', 0, 10, 0)).map((e) => e.id), ['new']);
    });
  });
}

contract('memory', async (clock) => new MemoryAuditStore(clock));
contract(
  'redis',
  async (clock) => {
    conn ??= await openTestConnection(redis!.url, 'ac:');
    // Each test starts from an empty database (this Redis is the test's own).
    await conn.client.flushdb();
    return new RedisAuditStore(conn, clock);
  },
  { skip },
);

describe('Redis audit keys', { skip }, () => {
  test('every key carries a TTL no longer than the retention (Redis forgets by itself)', async () => {
    conn ??= await openTestConnection(redis!.url, 'ac:');
    await conn.client.flushdb();
    const clock = new ManualClock(Date.now());
    const store = new RedisAuditStore(conn, clock);
    await store.add({ id: 'x', at: clock.now(), sealed: 's' }, ['k'], 90_000, 100);
    const keys = (await conn.client.keys('ac:*')).sort();
    assert.deepEqual(keys, ['ac:audit:all', 'ac:audit:e:x', 'ac:audit:u:k']);
    for (const k of keys) {
      const ttl = await conn.client.pttl(k.slice(3));
      assert.ok(ttl > 80_000 && ttl <= 90_000, `${k}: ${ttl}`);
    }
  });
});
