/**
 * The StateStore and SessionStore contracts against a real `redis-server` (spawned here on a free
 * port, stopped by its pid), plus what only Redis can get wrong: two connections sharing entries
 * (two Gatehouse instances), ends announced across them, key prefixes keeping deployments apart,
 * and failing closed (coded, fast, bounded) when Redis is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RedisSessionStore } from '../../proxy/session/redis-session-store.js';
import type { RedisConnection } from '../../proxy/store/redis-connection.js';
import { RedisStateStore } from '../../proxy/store/redis-state-store.js';
import { RedisGroupsSeen } from '../../proxy/store/groups-seen-redis.js';
import { systemClock } from '../../proxy/clock.js';
import { createLogger } from '../../proxy/log.js';
import { runCheck } from '../../proxy/cli/check.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestConnection } from '../helpers/redis-store.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { sessionStoreContract } from '../helpers/session-store-contract.js';
import { contract } from '../helpers/state-store-contract.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

let redis: RunningRedis | undefined;
let prefixes = 0;
const opened: RedisConnection[] = [];
const connection = async (prefix = `t${++prefixes}:`) => {
  const c = await openTestConnection(redis!.url, prefix);
  opened.push(c);
  return c;
};
const stateStore = async (prefix?: string) => new RedisStateStore(await connection(prefix));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('Redis stores', { skip }, () => {
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of opened) await c.close();
    await redis?.stop();
  });

  contract('redis', async () => ({ store: await stateStore(), elapse: sleep }), 400);

  sessionStoreContract(
    'redis',
    async () => {
      const conn = await connection();
      return { store: await RedisSessionStore.open(conn), elapse: sleep, now: () => Date.now(), close: () => conn.close() };
    },
    400,
  );

  test('a login started on instance A is finished on instance B: two connections share entries', async () => {
    const a = await stateStore('shared:');
    const b = await stateStore('shared:');
    await a.put('r1', 'nonce-hash', 10_000);
    assert.equal(await b.take('r1'), 'nonce-hash');
    assert.equal(await a.take('r1'), undefined, 'consumed once across instances');
  });

  test('replay across instances: an assertion ID claimed on A is refused on B', async () => {
    const a = await stateStore('replay:');
    const b = await stateStore('replay:');
    const claims = await Promise.all([a.putIfAbsent('assertion:_id1', '1', 10_000), b.putIfAbsent('assertion:_id1', '1', 10_000)]);
    assert.deepEqual(claims.sort(), [false, true]);
  });

  test('an end announced on instance B reaches instance A within a second (pub/sub revocation)', async () => {
    const a = await RedisSessionStore.open(await connection('announce:'));
    const b = await RedisSessionStore.open(await connection('announce:'));
    const heard = new Promise<readonly string[] | 'all'>((resolve) => a.onEnded(resolve));
    const t0 = Date.now();
    await b.announceEnded(['abc']);
    assert.deepEqual(await heard, ['abc']);
    assert.ok(Date.now() - t0 < 1000);
  });

  test('a shorter-lived login never shortens a user index: older sessions stay revocable by email (lowered max_lifetime)', async () => {
    const conn = await connection('extend:');
    const store = await RedisSessionStore.open(conn);
    const now = Date.now();
    await store.create('longlonglonglonglongAA', 'v', 60_000, now + 3_600_000, ['alice']);
    await store.create('shortshortshortshortAA', 'v', 60_000, now + 1_000, ['alice']);
    const ttl = await conn.run((c) => c.pttl('i:u:alice'));
    assert.ok(ttl > 3_500_000, `index kept for the longest session, PTTL ${ttl}`);
    await sleep(1_200);
    assert.deepEqual(await store.indexed('alice', 10), ['longlonglonglonglongAA']);
  });

  test('key prefixes keep deployments apart (keys and announcements)', async () => {
    const prod = await stateStore('prod:');
    const staging = await stateStore('staging:');
    await prod.put('k', 'prod', 10_000);
    assert.equal(await staging.get('k'), undefined);
    const p = await RedisSessionStore.open(await connection('prod:'));
    const s = await RedisSessionStore.open(await connection('staging:'));
    const heard: unknown[] = [];
    s.onEnded((ids) => heard.push(ids));
    await p.announceEnded(['x']);
    await sleep(200);
    assert.deepEqual(heard, []);
  });

  test('group names seen at login are merged from every instance into one bounded record (for gatehouse check)', async () => {
    const a = new RedisGroupsSeen(await connection('seen:'), systemClock, createLogger('silent'), 3);
    const b = new RedisGroupsSeen(await connection('seen:'), systemClock, createLogger('silent'), 3);
    a.record({ groups: ['ml-engineers', 'admins'], connection: 'okta' });
    b.record({ groups: ['ml-engineers'], connection: 'entra' });
    b.record({ groups: ['data', 'overflow-1'], connection: 'entra' });
    await Promise.all([a.close(), b.close()]);
    const record = await a.read();
    assert.equal(record.logins, 3);
    assert.deepEqual(Object.keys(record.groups).sort(), ['admins', 'data', 'ml-engineers']);
    assert.deepEqual(record.groups['ml-engineers']?.connections.sort(), ['entra', 'okta']);
    assert.equal(record.overflowed, true, 'the fourth name was refused, and that is said');
    assert.deepEqual((await b.names()).sort(), ['admins', 'data', 'ml-engineers']);
  });

  test('gatehouse check lints policy group names against the record in Redis (a name no IdP sends grants nobody)', async () => {
    const seen = new RedisGroupsSeen(await connection('lint:'), systemClock, createLogger('silent'));
    seen.record({ groups: ['ml-engineers'], connection: 'lab' });
    await seen.close();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-lint-'));
    try {
      mkdirSync(join(dir, 'policies'));
      writeFileSync(join(dir, 'policies', 'app.yaml'), 'routes:\n  - name: app\n    upstream: http://127.0.0.1:9\n    allow: [ { groups: [ml-engineer] } ]\n');
      const config = (url: string) =>
        `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: test-only-7c2e9a4b1d8f6035e2a7c9b4d1f8e6a3\n  store: redis\n  redis:\n    url: ${url}\n    key_prefix: "lint:"\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: http://127.0.0.1:9/md\npolicies: [policies/*.yaml]\n`;
      writeFileSync(join(dir, 'gatehouse.yaml'), config(redis!.url));
      const out: string[] = [];
      const sink = { write: (c: string) => (out.push(String(c)), true) } as unknown as NodeJS.WritableStream;
      assert.equal(await runCheck(join(dir, 'gatehouse.yaml'), sink, sink, { strict: true, offline: true }), 1);
      assert.match(out.join(''), /"ml-engineer".*no assertion.*ml-engineers/s);
      // Redis unreachable: the lint is skipped with a reason, the check itself does not fail.
      writeFileSync(join(dir, 'gatehouse.yaml'), config('redis://127.0.0.1:1'));
      out.length = 0;
      assert.equal(await runCheck(join(dir, 'gatehouse.yaml'), sink, sink, { strict: true, offline: true }), 0);
      assert.match(out.join(''), /group-name lint skipped: the session store is not reachable/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Redis gone: commands fail with SESSION_STORE_UNAVAILABLE within offline_wait (no unbounded queue); connecting fails within its timeout; it recovers by itself', async () => {
    const other = await startRedis();
    const conn = await openTestConnection(other.url, 'gone:', { offline_wait: 300, offline_queue: 5 });
    const s = new RedisStateStore(conn);
    await s.put('k', 'v', 60_000);
    await other.stop();
    const t0 = Date.now();
    await assert.rejects(s.get('k'), { code: 'SESSION_STORE_UNAVAILABLE' });
    assert.ok(Date.now() - t0 < 1500, `failed within the offline wait, took ${Date.now() - t0} ms`);
    const burst = await Promise.allSettled(Array.from({ length: 20 }, () => s.get('k')));
    assert.ok(burst.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'SESSION_STORE_UNAVAILABLE'));
    assert.equal(conn.health().status, 'down');
    await assert.rejects(openTestConnection(other.url, 'gone:', { connect_timeout: 500 }));
    const again = await startRedis({ port: other.port });
    try {
      const deadline = Date.now() + 10_000;
      while (conn.health().status !== 'ready' && Date.now() < deadline) await sleep(50);
      assert.equal(conn.health().status, 'ready', 'reconnected by itself');
      await s.put('k', 'back', 1_000);
      assert.equal(await s.get('k'), 'back');
    } finally {
      await conn.close();
      await again.stop();
    }
  });
});
