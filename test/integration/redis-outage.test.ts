/**
 * Redis dies under load and comes back: one Gatehouse process in front of a test upstream,
 * sessions in a spawned `redis-server` with an fsync'd append-only file (so a session survives
 * the restart, as it would in production with persistence or a replica). While Redis is away,
 * a request with a session cookie must get a coded 503 (never a 500, never be treated as
 * anonymous and sent to sign in), readiness must say so, the process must keep running and log
 * the outage once; once Redis is back the same cookie must work again by itself.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { idpMetadataXml } from '../helpers/gatehouse.js';
import { startGatehouseProcess, type GatehouseProcess } from '../helpers/gatehouse-process.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';
import { signIn, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const SECRET = `redis-outage-${'0123456789abcdef'.repeat(3)}`;
const COOKIE = 'gatehouse_session';
const LOOPS = 8;
const REQUEST_TIMEOUT_MS = 3_000;
/** Load runs at least this long (the outage sits inside it)... */
const LOAD_MS = 6_000;
/** ...and never longer than this, recovered or not. */
const LOAD_CAP_MS = 15_000;
const KILL_AT_MS = 1_000;
const DOWN_MS = 1_500;
/** After Redis is back, the same cookie must work again within this. */
const RECOVERY_LIMIT_MS = 8_000;
const BROWSER = { accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate' };
const API = { accept: 'application/json' };

let dataDir: string | undefined;
/** The Redis currently running (the first one, then the restarted one). */
let redis: RunningRedis | undefined;
const stopped: RunningRedis[] = [];
let upstream: TestUpstream | undefined;
let gh: GatehouseProcess | undefined;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Persistence, so the restarted server has the sessions: every write fsync'd before it is acknowledged. */
const persistent = () => ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dataDir!];

/** One response seen during the load run. */
interface Outcome {
  loop: number;
  startedAt: number;
  endedAt: number;
  status: number;
  /** The error code of a Gatehouse error (JSON `error.code`, or the code shown on the HTML page). */
  code?: string;
  browser: boolean;
  location?: string;
  error?: string;
}

/** Keep-alive connections for the load, closed at the end. */
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

/** A response read in full. */
interface Got {
  status: number;
  type: string | undefined;
  location: string | undefined;
  text: string;
}

/**
 * GET over node:http, bounded by REQUEST_TIMEOUT_MS. Not fetch: undici always sends
 * `Sec-Fetch-Mode: cors`, so a fetch can never look like a browser navigation.
 */
function get(url: string, headers: Record<string, string>): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], location: res.headers.location, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET /ml/x with the cookie; JSON for API loops, a browser navigation for the others. */
async function probe(loop: number, cookie: string, browser: boolean): Promise<Outcome> {
  const startedAt = performance.now();
  try {
    const res = await get(`${gh!.url}/ml/x`, { cookie: `${COOKIE}=${cookie}`, ...(browser ? BROWSER : API) });
    const out: Outcome = { loop, startedAt, endedAt: performance.now(), status: res.status, browser };
    if (res.location) out.location = res.location;
    if (res.status !== 200) out.code = errorCode(res.text, res.type, browser);
    return out;
  } catch (err) {
    return { loop, startedAt, endedAt: performance.now(), status: 0, browser, error: (err as Error).message };
  }
}

/**
 * The error code of a Gatehouse error: `error.code` of the JSON for API clients, the code the
 * HTML page shows for browsers; a response of the wrong kind for the client has none.
 */
function errorCode(text: string, type: string | undefined, browser: boolean): string | undefined {
  if (!browser && type?.startsWith('application/json')) {
    try {
      return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      return undefined;
    }
  }
  if (browser && type?.startsWith('text/html')) return /Error <code>([A-Z_]+)<\/code>/.exec(text)?.[1];
  return undefined;
}

describe('Redis outage under load', { skip }, () => {
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-aof-'));
    redis = await startRedis({ args: persistent() });
    upstream = await startTestUpstream();
    gh = await startGatehouseProcess({
      name: 'gatehouse',
      config: {
        server: { watch_policies: false },
        session: { store: redis.url, secret: SECRET, cache: { ttl: '5s' } },
        saml: { connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }] },
      },
      files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
      policies: { 'routes.yaml': { routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }] } },
    });
  });

  after(async () => {
    agent.destroy();
    await gh?.stop();
    await upstream?.close();
    for (const r of [...stopped, redis]) await r?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('Redis killed and restarted under load: coded 503s meanwhile, never anonymous, no crash, recovers by itself', async () => {
    const jar = await signIn(gh!.url, 'lab', 'alice@example.com', ['ml-engineers']);
    const cookie = jar.get(COOKIE)!;
    assert.ok(cookie);
    assert.equal((await probe(-1, cookie, false)).status, 200, 'control: the session works');
    assert.equal((await fetch(`${gh!.url}/.gatehouse/readyz`)).status, 200, 'control: ready');

    const t0 = performance.now();
    const outcomes: Outcome[] = [];
    const readiness: Array<{ at: number; status: number; store?: string }> = [];
    let killedAt = Number.POSITIVE_INFINITY;
    let restartedAt = Number.POSITIVE_INFINITY;
    let stop = false;
    const recoveredSince = () => outcomes.some((o) => o.status === 200 && o.startedAt >= restartedAt);

    const loops = Array.from({ length: LOOPS }, async (_, loop) => {
      while (!stop) outcomes.push(await probe(loop, cookie, loop % 2 === 1));
    });
    const ready = (async () => {
      while (!stop) {
        const at = performance.now();
        try {
          const res = await fetch(`${gh!.url}/.gatehouse/readyz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
          const body = (await res.json()) as { store?: { status?: string } };
          readiness.push({ at, status: res.status, store: body.store?.status });
        } catch {
          readiness.push({ at, status: 0 });
        }
        await sleep(100);
      }
    })();

    // Login attempts while Redis is down: a clear coded 503, JSON for clients, HTML for browsers.
    let loginJson: { status: number; code?: string } | undefined;
    let loginHtml: { status: number; type: string | undefined; code?: string } | undefined;
    try {
      await sleep(KILL_AT_MS);
      process.kill(redis!.pid, 'SIGKILL');
      killedAt = performance.now();
      stopped.push(redis!);
      await sleep(200);
      const loginUrl = `${gh!.url}/.gatehouse/saml/lab/login?rd=%2Fml%2Fx`;
      const [json, html] = await Promise.all([get(loginUrl, API), get(loginUrl, BROWSER)]);
      loginJson = { status: json.status, code: errorCode(json.text, json.type, false) };
      loginHtml = { status: html.status, type: html.type, code: errorCode(html.text, html.type, true) };
      await sleep(Math.max(0, killedAt + DOWN_MS - performance.now()));
      redis = await startRedis({ port: redis!.port, args: persistent() });
      restartedAt = performance.now();
      while (performance.now() - t0 < LOAD_CAP_MS && !(performance.now() - t0 >= LOAD_MS && recoveredSince())) await sleep(50);
    } finally {
      stop = true;
      await Promise.all([...loops, ready]);
    }
    const loadMs = performance.now() - t0;

    // After the load: the same cookie works again (bounded), and readiness is back.
    let recoveryMs: number | undefined;
    const firstOk = outcomes.filter((o) => o.status === 200 && o.startedAt >= restartedAt).sort((x, y) => x.endedAt - y.endedAt)[0];
    if (firstOk) recoveryMs = firstOk.endedAt - restartedAt;
    else {
      const deadline = performance.now() + RECOVERY_LIMIT_MS;
      while (performance.now() < deadline) {
        if ((await probe(-1, cookie, false)).status === 200) {
          recoveryMs = performance.now() - restartedAt;
          break;
        }
        await sleep(100);
      }
    }
    const finalProbe = await probe(-1, cookie, false);
    const finalReady = await fetch(`${gh!.url}/.gatehouse/readyz`);
    const finalReadyBody = (await finalReady.json()) as { store?: { status?: string } };

    // Logs reach stdout in batches: wait for the recovery line before counting.
    await gh!.waitForLog((l) => l.event === 'store-recovered', 5_000).catch(() => undefined);
    await sleep(400);
    const storeDown = gh!.find((l) => l.event === 'store-down');
    const storeRecovered = gh!.find((l) => l.event === 'store-recovered');

    const count = new Map<string, number>();
    for (const o of outcomes) {
      const key = `${o.browser ? 'browser' : 'api'} ${o.status}${o.code ? ` ${o.code}` : ''}${o.error ? ` (${o.error})` : ''}`;
      count.set(key, (count.get(key) ?? 0) + 1);
    }
    const during = outcomes.filter((o) => o.startedAt >= killedAt && o.endedAt <= restartedAt);
    const readyDown = readiness.filter((r) => r.status === 503);
    const maxLatency = Math.max(...outcomes.map((o) => o.endedAt - o.startedAt));
    console.log(`# load ${loadMs.toFixed(0)} ms, ${outcomes.length} responses: ${JSON.stringify(Object.fromEntries([...count].sort()))}`);
    // The instant of the kill, before the connection's close is noticed, cached sessions may still serve.
    const lateOk = during.filter((o) => o.status === 200).map((o) => o.endedAt - killedAt);
    console.log(`# while Redis was down: ${during.length} responses, ${during.filter((o) => o.status === 503).length} of them 503, ${lateOk.length} 200 (latest ${lateOk.length ? Math.max(...lateOk).toFixed(0) : '-'} ms after the kill); slowest response of the run ${maxLatency.toFixed(0)} ms`);
    console.log(`# readyz: ${readiness.length} probes, ${readyDown.length} answered 503 (store ${[...new Set(readyDown.map((r) => r.store))].join(',')})`);
    console.log(`# recovery: same cookie 200 again ${recoveryMs?.toFixed(0)} ms after the restarted Redis accepted connections`);
    console.log(`# login while down: JSON ${JSON.stringify(loginJson)}, browser ${JSON.stringify(loginHtml)}`);
    console.log(`# logs: ${storeDown.length} store-down, ${storeRecovered.length} store-recovered (down_ms ${storeRecovered.map((l) => l.down_ms).join(',')}), ${gh!.find((l) => l.event === 'error').length} error lines`);

    assert.equal(gh!.exited, false, `Gatehouse exited (code ${gh!.exitCode}, signal ${gh!.signal})\n${gh!.output()}`);
    const bad = outcomes.filter((o) => !(o.status === 200 || (o.status === 503 && o.code === 'SESSION_STORE_UNAVAILABLE')));
    assert.deepEqual(bad.slice(0, 5), [], `only 200 or coded 503 (${bad.length} others); a session cookie is never treated as anonymous`);
    assert.ok(outcomes.some((o) => o.status === 503 && o.browser), 'browsers got the 503 page too');
    assert.ok(during.some((o) => o.status === 503), 'some 503s while Redis was down');
    assert.ok(lateOk.every((ms) => ms < 250), `no session served from the cache once the outage is known (200s ${lateOk.map((ms) => ms.toFixed(0)).join(',')} ms after the kill)`);
    assert.ok(outcomes.filter((o) => o.startedAt < killedAt).every((o) => o.status === 200), 'all 200 before the kill');
    assert.ok(readyDown.length > 0 && readyDown.every((r) => r.store === 'down'), 'readyz said 503, store down, during the outage');
    assert.ok(recoveryMs !== undefined && recoveryMs < RECOVERY_LIMIT_MS, `the same cookie works again within ${RECOVERY_LIMIT_MS} ms (took ${recoveryMs?.toFixed(0)})`);
    assert.equal(finalProbe.status, 200);
    assert.equal(finalReady.status, 200);
    assert.equal(finalReadyBody.store?.status, 'ready');
    assert.deepEqual(loginJson, { status: 503, code: 'SESSION_STORE_UNAVAILABLE' }, 'login start while Redis is down (JSON)');
    assert.equal(loginHtml?.status, 503);
    assert.match(loginHtml?.type ?? '', /^text\/html/);
    assert.equal(loginHtml?.code, 'SESSION_STORE_UNAVAILABLE', 'login start while Redis is down (HTML page)');
    assert.equal(storeDown.length, 1, 'one store-down line for the outage, not one per request');
    assert.equal(storeRecovered.length, 1, 'one store-recovered line');
    assert.equal(gh!.exited, false, 'still running at the end');
  });
});
