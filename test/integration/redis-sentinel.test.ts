/**
 * Redis behind Sentinel (a primary, its replica and one Sentinel with quorum 1, spawned here on
 * free loopback ports and stopped by pid): the StateStore and SessionStore contracts through a
 * Sentinel-discovered primary, and a running Gatehouse keeping its users signed in when the
 * primary crashes and Sentinel promotes the replica: the same cookie works again within a bounded
 * time, requests meanwhile get 200 or a coded 503 (never a 500, a 401 or a hang), a new login
 * works, revocations are heard again, and readyz reports the store back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RedisSessionStore } from '../../proxy/session/redis-session-store.js';
import { createLogger } from '../../proxy/log.js';
import { RedisConnection } from '../../proxy/store/redis-connection.js';
import { RedisStateStore } from '../../proxy/store/redis-state-store.js';
import { demoLogin } from '../helpers/demo-login.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { startSentinel, sentinelSkipReason, waitUntil, withRedis, type RunningSentinel } from '../helpers/redis-sentinel.js';
import { redisTestSettings } from '../helpers/redis-store.js';
import { sessionStoreContract } from '../helpers/session-store-contract.js';
import { contract } from '../helpers/state-store-contract.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skip = sentinelSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** One silent logger for every connection (each logger adds a process 'exit' listener). */
const silent = createLogger('silent');

/** Connections through the Sentinel of `s`, closed by `closeAll`. */
function sentinelConnections(s: () => RunningSentinel) {
  const opened: RedisConnection[] = [];
  let prefixes = 0;
  return {
    async open(prefix = `sn${++prefixes}:`) {
      const { sentinels, masterName } = s();
      const c = await RedisConnection.open(redisTestSettings('', prefix, { url: undefined, sentinels, master_name: masterName }), silent);
      opened.push(c);
      return c;
    },
    async closeAll() {
      for (const c of opened.splice(0)) await c.close();
    },
  };
}

describe('Redis stores through Sentinel (the primary Sentinel names)', { skip, timeout: 120_000 }, () => {
  let sentinel: RunningSentinel | undefined;
  const conns = sentinelConnections(() => sentinel!);
  before(async () => {
    sentinel = await startSentinel();
  });
  after(async () => {
    await conns.closeAll();
    await sentinel?.stop();
  });

  contract('redis via Sentinel', async () => ({ store: new RedisStateStore(await conns.open()), elapse: sleep }), 400);

  sessionStoreContract(
    'redis via Sentinel',
    async () => {
      const conn = await conns.open();
      return { store: await RedisSessionStore.open(conn), elapse: sleep, now: () => Date.now(), close: () => conn.close() };
    },
    400,
  );

  test('a Sentinel connection writes to the primary Sentinel names, and the write reaches the replica', async () => {
    const conn = await conns.open('where:');
    await new RedisStateStore(conn).put('k', 'v', 60_000);
    await sentinel!.waitForReplica();
    const primary = await sentinel!.primary();
    const replica = sentinel!.servers.find((s) => s.port !== primary.port)!;
    assert.equal(await withRedis(primary.port, (c) => c.get('where:st:k')), 'v');
    assert.equal(await withRedis(replica.port, (c) => c.get('where:st:k')), 'v');
  });
});

/** One request's fate while the store fails over. */
interface Outcome {
  status: number | 'hang' | 'network-error';
  code?: string;
  /** The response told the browser to drop its session cookie (a failover must not sign anyone out). */
  clearsSession: boolean;
  ms: number;
  at: number;
}

const PREFIX = 'gh-failover:';
const COOKIE = 'gatehouse_session';

describe('Redis Sentinel failover under a running Gatehouse', { skip, timeout: 120_000 }, () => {
  let sentinel: RunningSentinel | undefined;
  let upstream: TestUpstream | undefined;
  let gh: RunningGatehouse | undefined;
  const conns = sentinelConnections(() => sentinel!);
  before(async () => {
    sentinel = await startSentinel();
    upstream = await startTestUpstream();
    gh = await startGatehouse({
      config: { demo: true, session: { store: 'redis', redis: { sentinels: sentinel.sentinels, master_name: sentinel.masterName, key_prefix: PREFIX } } },
      connections: [
        {
          id: 'demo',
          demo_idp: {
            users: [
              { name: 'alice', email: 'alice@example.com', groups: ['ml-engineers'] },
              { name: 'bob', email: 'bob@example.com', groups: ['ml-engineers'] },
            ],
          },
        },
      ],
      routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }],
    });
  });
  after(async () => {
    await gh?.stop();
    await upstream?.close();
    await conns.closeAll();
    await sentinel?.stop();
  });

  /** A routed request with a fixed Cookie header (never updated from responses), bounded at 5 s. */
  const routed = async (cookie: string): Promise<Outcome> => {
    const at = Date.now();
    try {
      const res = await fetch(`${gh!.url}/work`, { headers: { cookie, accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(5_000) });
      const text = await res.text();
      let code: string | undefined;
      try {
        code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
      } catch {
        code = undefined;
      }
      const clearsSession = res.headers.getSetCookie().some((c) => c.startsWith(`${COOKIE}=`) && (/max-age=0/i.test(c) || c.startsWith(`${COOKIE}=;`)));
      return { status: res.status, ...(code ? { code } : {}), clearsSession, ms: Date.now() - at, at };
    } catch (err) {
      const name = (err as Error).name;
      return { status: name === 'TimeoutError' || name === 'AbortError' ? 'hang' : 'network-error', clearsSession: false, ms: Date.now() - at, at };
    }
  };
  const acceptable = (o: Outcome) => !o.clearsSession && (o.status === 200 || (o.status === 503 && o.code === 'SESSION_STORE_UNAVAILABLE'));
  const describeOutcome = (o: Outcome) => `${o.status}${o.code ? ` ${o.code}` : ''}${o.clearsSession ? ' (clears the session cookie)' : ''} in ${o.ms} ms`;

  test('sessions survive a Sentinel failover: the same cookie works on the promoted replica, requests meanwhile get 200 or a coded 503 (never 500, 401 or a hang), a new login works, revocations are heard and readyz recovers', async (t) => {
    const jar = await demoLogin(gh!.url, 'alice');
    const cookie = jar.header()!;
    const sessionId = jar.get(COOKIE)!.split('.')[0]!;
    const first = await routed(cookie);
    assert.equal(first.status, 200, `signed in before the failover: ${describeOutcome(first)}`);

    // Another instance's view of the store, connected before the failover: revocations
    // announced after it must still reach it (its subscriber has to follow the new primary).
    const earlier = await RedisSessionStore.open(await conns.open(PREFIX));

    await sentinel!.waitForReplica();
    const oldPrimary = await sentinel!.masterPort();
    const standby = sentinel!.servers.find((s) => s.port !== oldPrimary)!;
    assert.equal(await withRedis(standby.port, (c) => c.exists(`${PREFIX}s:${sessionId}`)), 1, 'the session reached the replica before the crash');

    // Traffic with the same cookie throughout the failover (3 clients, back to back).
    const outcomes: Outcome[] = [];
    let trafficOn = true;
    const traffic = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (trafficOn) {
          outcomes.push(await routed(cookie));
          await sleep(20);
        }
      }),
    );

    const failover = await sentinel!.killPrimary().catch(async (err: unknown) => {
      trafficOn = false;
      await traffic;
      throw err;
    });
    t.diagnostic(`Sentinel promoted 127.0.0.1:${failover.promotedPort} ${failover.promotedMs} ms after SIGKILL of 127.0.0.1:${failover.killedPort}`);

    // The same cookie, every 100 ms, for up to 10 s after the promotion.
    const polled: Outcome[] = [];
    const deadline = Date.now() + 10_000;
    let back: Outcome | undefined;
    while (Date.now() < deadline) {
      const o = await routed(cookie);
      polled.push(o);
      if (o.status === 200) {
        back = o;
        break;
      }
      await sleep(100);
    }
    trafficOn = false;
    await traffic;
    // Everything sent after the SIGKILL (the traffic began a moment before it).
    const all = [...outcomes, ...polled].filter((o) => o.at >= failover.killedAt);
    const recoveredMs = back ? back.at + back.ms - failover.killedAt : undefined;
    const summary = Object.entries(
      all.reduce<Record<string, number>>((acc, o) => {
        const k = `${o.status}${o.code ? ` ${o.code}` : ''}`;
        acc[k] = (acc[k] ?? 0) + 1;
        return acc;
      }, {}),
    )
      .map(([k, n]) => `${k}: ${n}`)
      .join(', ');
    t.diagnostic(`same cookie working again ${recoveredMs ?? 'never'} ms after SIGKILL (promotion took ${failover.promotedMs} ms); ${all.length} requests sent after the SIGKILL: ${summary}; slowest ${Math.max(0, ...all.map((o) => o.ms))} ms`);
    assert.ok(back, `the session cookie did not work within 10 s after Sentinel promoted the replica (promotion took ${failover.promotedMs} ms); last answers: ${polled.slice(-3).map(describeOutcome).join('; ')}`);

    const bad = [...outcomes, ...polled].filter((o) => !acceptable(o));
    assert.deepEqual(
      bad.map(describeOutcome),
      [],
      `during the failover every request must get 200 or 503 SESSION_STORE_UNAVAILABLE without losing its cookie (${summary}); recovered after ${recoveredMs} ms`,
    );
    assert.ok(
      outcomes.some((o) => o.at >= failover.killedAt && o.at < failover.killedAt + failover.promotedMs),
      'traffic ran while the primary was down (otherwise the assertions above prove nothing)',
    );
    assert.equal(await withRedis(failover.promotedPort, (c) => c.exists(`${PREFIX}s:${sessionId}`)), 1, 'the session is read from the promoted replica');

    // A new login after the failover: login state, replay record and session all on the new primary.
    const bob = await demoLogin(gh!.url, 'bob');
    const bobs = await routed(bob.header()!);
    assert.equal(bobs.status, 200, `a login after the failover works: ${describeOutcome(bobs)}`);

    const ready = await waitUntil(
      'readyz reports the store ready and listening for revocations after the failover',
      async () => {
        const res = await fetch(`${gh!.url}/.gatehouse/readyz`, { signal: AbortSignal.timeout(2_000) });
        const body = (await res.json()) as { status: string; store: { kind: string; status: string; revocations: string } };
        return res.status === 200 && body.store.status === 'ready' && body.store.revocations === 'listening' ? body : undefined;
      },
      10_000,
    );
    assert.equal(ready.store.kind, 'redis');
    t.diagnostic(`readyz ready and listening ${Date.now() - failover.killedAt} ms after SIGKILL (checked after the new login)`);

    // Revocations announced on the new primary reach the instance connected before the failover.
    const announcer = await RedisSessionStore.open(await conns.open(PREFIX));
    await waitUntil('the instance connected before the failover listens for revocations again', async () => earlier.health().listening, 10_000);
    const heard = new Promise<boolean>((resolve) => {
      earlier.onEnded((ids) => ids !== 'all' && ids.includes('revoked-after-failover') && resolve(true));
      setTimeout(() => resolve(false), 2_000).unref();
    });
    await announcer.announceEnded(['revoked-after-failover']);
    assert.equal(await heard, true, 'a revocation announced after the failover reached an instance connected before it, within 2 s');

    const recoveredLogged = gh!.logs.find((l) => l.event === 'store-recovered');
    t.diagnostic(`store-down logged ${gh!.logs.find((l) => l.event === 'store-down').length}x, store-recovered ${recoveredLogged.length}x${recoveredLogged[0] ? ` (down_ms ${String(recoveredLogged[0].down_ms)})` : ''}`);
  });
});
