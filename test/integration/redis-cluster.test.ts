/**
 * Redis Cluster (three primaries spawned here on free loopback ports, joined with
 * `redis-cli --cluster create`, stopped by pid): the StateStore and SessionStore contracts on a
 * Cluster, what a Cluster refuses that one server allows (keys of one command in several hash
 * slots, pub/sub reaching subscribers on other nodes, scripts), and a Gatehouse login and routed
 * request with `session.redis.nodes`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../../proxy/clock.js';
import { createLogger } from '../../proxy/log.js';
import { RedisSessionStore } from '../../proxy/session/redis-session-store.js';
import { RedisGroupsSeen } from '../../proxy/store/groups-seen-redis.js';
import { RedisConnection } from '../../proxy/store/redis-connection.js';
import { RedisStateStore } from '../../proxy/store/redis-state-store.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse } from '../helpers/gatehouse.js';
import { clusterSkipReason, startCluster, type RunningCluster } from '../helpers/redis-cluster.js';
import { withRedis } from '../helpers/redis-sentinel.js';
import { redisTestSettings } from '../helpers/redis-store.js';
import { sessionStoreContract } from '../helpers/session-store-contract.js';
import { contract } from '../helpers/state-store-contract.js';
import { startTestUpstream } from '../helpers/upstream.js';

const skip = clusterSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** One silent logger for every connection (each logger adds a process 'exit' listener). */
const silent = createLogger('silent');

describe('Redis stores on a Cluster (3 primaries)', { skip, timeout: 120_000 }, () => {
  let cluster: RunningCluster | undefined;
  const opened: RedisConnection[] = [];
  let prefixes = 0;
  const connection = async (prefix = `cl${++prefixes}:`) => {
    const c = await RedisConnection.open(redisTestSettings('', prefix, { url: undefined, nodes: cluster!.nodes }), silent);
    opened.push(c);
    return c;
  };
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => {
    for (const c of opened) await c.close();
    await cluster?.stop();
  });

  contract('redis Cluster', async () => ({ store: new RedisStateStore(await connection()), elapse: sleep }), 400);

  sessionStoreContract(
    'redis Cluster',
    async () => {
      const conn = await connection();
      return { store: await RedisSessionStore.open(conn), elapse: sleep, now: () => Date.now(), close: () => conn.close() };
    },
    400,
  );

  test('sessions of one user land on several nodes and are still listed and read together (no cross-slot command)', async () => {
    const store = await RedisSessionStore.open(await connection('spread:'));
    const ids = Array.from({ length: 12 }, (_, i) => `spread${String(i).padStart(16, '0')}`);
    const end = Date.now() + 60_000;
    for (const id of ids) await store.create(id, `v-${id}`, 60_000, end, ['alice']);
    // Which node serves each key: CLUSTER KEYSLOT, then the slot ranges of CLUSTER SLOTS.
    const holders = await withRedis(cluster!.servers[0]!.port, async (c) => {
      const ranges = (await c.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
      const ports = new Set<number>();
      for (const id of ids) {
        const slot = (await c.call('CLUSTER', 'KEYSLOT', `spread:s:${id}`)) as number;
        ports.add(ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2][1]);
      }
      return ports;
    });
    assert.ok(holders.size >= 2, `12 sessions spread over ${holders.size} node(s): the test would not catch a cross-slot command`);
    assert.deepEqual(new Set(await store.indexed('alice', 100)), new Set(ids));
    assert.deepEqual(await store.getMany(ids), ids.map((id) => `v-${id}`));
    await store.delete(ids);
    assert.deepEqual(await store.getMany(ids), ids.map(() => undefined));
  });

  test('an end announced on instance B reaches instance A within a second on a Cluster (pub/sub across nodes)', async () => {
    const a = await RedisSessionStore.open(await connection('announce:'));
    const b = await RedisSessionStore.open(await connection('announce:'));
    const heard = new Promise<readonly string[] | 'all' | 'timeout'>((resolve) => {
      a.onEnded((ids) => ids !== 'all' && resolve(ids));
      setTimeout(() => resolve('timeout'), 1_000).unref();
    });
    await b.announceEnded(['abc']);
    assert.deepEqual(await heard, ['abc']);
    assert.equal(a.health().listening, true);
  });

  test('a login started on one instance is finished on another, and an assertion claimed twice is refused once, on a Cluster', async () => {
    const a = new RedisStateStore(await connection('shared:'), 'login:');
    const b = new RedisStateStore(await connection('shared:'), 'login:');
    await a.put('r1', 'nonce', 10_000);
    assert.equal(await b.take('r1'), 'nonce');
    assert.equal(await a.take('r1'), undefined);
    const claims = await Promise.all([a.putIfAbsent('assertion:_id1', '1', 10_000), b.putIfAbsent('assertion:_id1', '1', 10_000)]);
    assert.deepEqual(claims.sort(), [false, true]);
  });

  test('the groups-seen record (a script over two hash-tagged keys) is written and read on a Cluster', async () => {
    const seen = new RedisGroupsSeen(await connection('gs:'), systemClock, silent);
    seen.record({ groups: ['ml-engineers', 'Everyone'], connection: 'demo' });
    seen.record({ groups: ['ml-engineers'], connection: 'other' });
    await seen.close();
    const record = await seen.read();
    assert.equal(record.logins, 2);
    assert.deepEqual(Object.keys(record.groups).sort(), ['Everyone', 'ml-engineers']);
    assert.deepEqual(new Set(await seen.names()), new Set(['Everyone', 'ml-engineers']));
  });
});

describe('Gatehouse with its sessions on a Redis Cluster', { skip, timeout: 120_000 }, () => {
  let cluster: RunningCluster | undefined;
  before(async () => {
    cluster = await startCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  test('a login through the demo IdP and a routed request work with session.redis.nodes; logout ends the session; readyz reports the store ready and listening', async () => {
    const upstream = await startTestUpstream();
    const gh = await startGatehouse({
      config: { demo: true, session: { store: 'redis', redis: { nodes: cluster!.nodes, key_prefix: 'gh-cluster:' } } },
      connections: [{ id: 'demo', demo_idp: { users: [{ name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] }] } }],
      routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }],
    });
    try {
      const jar = await demoLogin(gh.url, 'alice');
      const res = await jarFetch(jar, `${gh.url}/work`, { headers: { accept: 'application/json' } });
      assert.equal(res.status, 200, `routed request: ${await res.text()}`);
      assert.equal(upstream.seen.at(-1)?.headers['x-forwarded-user'], 'alice@example.com');

      const ready = await fetch(`${gh.url}/.gatehouse/readyz`);
      const body = (await ready.json()) as { store: { kind: string; status: string; revocations: string } };
      assert.equal(ready.status, 200);
      assert.deepEqual([body.store.kind, body.store.status, body.store.revocations], ['redis', 'ready', 'listening']);

      const cookie = jar.header()!;
      const out = await jarFetch(jar, `${gh.url}/.gatehouse/logout`, { method: 'POST', headers: { origin: gh.url, accept: 'application/json' } });
      await out.arrayBuffer();
      const after = await fetch(`${gh.url}/work`, { headers: { cookie, accept: 'application/json' } });
      await after.arrayBuffer();
      assert.equal(after.status, 401, `the old cookie after logout (logout answered ${out.status})`);

      const failed = gh.logs.find((l) => l.level === 'warn' || l.level === 'error');
      assert.deepEqual(
        failed.map((l) => `${String(l.event)}: ${String(l.msg)} ${JSON.stringify(l.err ?? '')}`),
        [],
        'no store warnings or errors (e.g. the groups-seen script refused by the Cluster)',
      );
    } finally {
      await gh.stop();
      await upstream.close();
    }
  });
});
