import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { redisSkipReason, startRedis, type RunningRedis } from './redis-server.js';

/** How long any wait in these helpers may take before failing with a message saying what for. */
export const WAIT_MS = 15_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Polls `check` every `everyMs` until it returns something truthy (returned), or throws after
 * `ms` naming `what` and the last value or error seen: a wait that never ends is a failure.
 * `giveUp` ends the wait at once when it returns a reason (a process it waits for has died).
 */
export async function waitUntil<T>(what: string, check: () => Promise<T>, ms = WAIT_MS, everyMs = 100, giveUp?: () => string | undefined): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const hopeless = giveUp?.();
    if (hopeless) throw new Error(`gave up waiting until ${what}: ${hopeless}`);
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await sleep(everyMs);
  }
}

/**
 * One short-lived connection to a loopback Redis (or Sentinel) on `port`: never retries, never
 * queues, gives up after 2 s, always disconnects. For polling a server's view of itself.
 */
export async function withRedis<T>(port: number, use: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 2_000, commandTimeout: 2_000, retryStrategy: () => null, enableReadyCheck: false });
  c.on('error', () => {});
  try {
    await c.connect();
    return await use(c);
  } finally {
    c.disconnect();
  }
}

/** `INFO <section>` of the Redis on `port`, as field → value. */
export async function redisInfo(port: number, section: string): Promise<Record<string, string>> {
  const text = await withRedis(port, (c) => c.info(section));
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':') && !l.startsWith('#'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

/** A Sentinel reply of field/value pairs (`SENTINEL master`, each of `SENTINEL replicas`) as an object. */
function pairs(reply: unknown): Record<string, string> {
  const flat = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** Why Sentinel tests cannot run here, or undefined when they can. */
export function sentinelSkipReason(): string | undefined {
  const redis = redisSkipReason();
  if (redis) return redis;
  if (sentinelCommand() === undefined) return 'neither redis-sentinel nor redis-server --sentinel is available (apt-get install redis-server redis-sentinel)';
  return undefined;
}

/**
 * How to start a Sentinel: Debian's `redis-sentinel` (package redis-sentinel) when installed,
 * else `redis-server <conf> --sentinel` (the same binary; package redis-server alone has it).
 */
function sentinelCommand(): { bin: string; extra: string[] } | undefined {
  if (spawnSync('redis-sentinel', ['--version'], { encoding: 'utf8' }).status === 0) return { bin: 'redis-sentinel', extra: [] };
  if (spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0) return { bin: 'redis-server', extra: ['--sentinel'] };
  return undefined;
}

/** What `killPrimary` saw: which server died, which took over, and how long Sentinel took. */
export interface Failover {
  killedPort: number;
  promotedPort: number;
  /** From SIGKILL to Sentinel naming the new primary (and that server calling itself master). */
  promotedMs: number;
  /** When the primary was killed (Date.now()). */
  killedAt: number;
}

/** A primary, its replica and one Sentinel (quorum 1), all on loopback, all ours. */
export interface RunningSentinel {
  masterName: string;
  /** `host:port` of each Sentinel, as `session.redis.sentinels` takes them. */
  sentinels: string[];
  sentinelPort: number;
  /** The data servers (primary first, as started). Killed ones stay listed. */
  servers: RunningRedis[];
  /** The address Sentinel gives for the primary now. */
  masterPort(): Promise<number>;
  /** The server Sentinel currently names primary. */
  primary(): Promise<RunningRedis>;
  /** Waits until every write the primary accepted so far is acknowledged by its replica. */
  waitForReplica(): Promise<void>;
  /**
   * SIGKILLs the current primary by its pid (no shutdown, no last sync: a crash) and waits until
   * Sentinel reports a replica promoted and that replica answers as master.
   */
  killPrimary(): Promise<Failover>;
  /** Stops the Sentinel and the servers this helper started (by pid: SIGTERM, then SIGKILL). */
  stop(): Promise<void>;
}

const MASTER = 'mymaster';

/**
 * Starts a primary, a replica of it (`--replicaof`), waits until the replica's link is up, then
 * one Sentinel monitoring the primary with quorum 1 (`down-after-milliseconds 500`,
 * `failover-timeout 3000`), and waits until the Sentinel knows the primary and the replica.
 */
export async function startSentinel(): Promise<RunningSentinel> {
  const started: RunningRedis[] = [];
  let sentinel: SentinelProcess | undefined;
  const stop = async () => {
    await sentinel?.stop();
    for (const s of [...started].reverse()) await s.stop();
  };
  try {
    // No 5 s wait before the first (diskless) full sync: the replica is the only one coming.
    const primary = await startRedis({ args: ['--repl-diskless-sync-delay', '0'] });
    started.push(primary);
    const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--repl-diskless-sync-delay', '0'] });
    started.push(replica);
    await waitUntil(`the replica on ${replica.port} has synced with the primary on ${primary.port}`, async () => {
      const info = await redisInfo(replica.port, 'replication');
      return info.master_link_status === 'up' && info.master_sync_in_progress === '0';
    });
    // The Sentinel starts after the link is up: its first INFO of the primary lists the replica
    // (otherwise it would only learn of it at the next INFO, up to 10 s later).
    sentinel = await spawnSentinel(primary.port);
    const sentinelPort = sentinel.port;
    await waitUntil(`the Sentinel on ${sentinelPort} knows the primary ${primary.port} and its replica ${replica.port}`, async () => {
      const addr = (await withRedis(sentinelPort, (c) => c.call('SENTINEL', 'get-master-addr-by-name', MASTER))) as [string, string] | null;
      if (!addr || Number(addr[1]) !== primary.port) return false;
      const master = pairs(await withRedis(sentinelPort, (c) => c.call('SENTINEL', 'master', MASTER)));
      if (master.flags !== 'master') return false;
      const replicas = ((await withRedis(sentinelPort, (c) => c.call('SENTINEL', 'replicas', MASTER))) as unknown[]).map(pairs);
      return replicas.some((r) => Number(r.port) === replica.port && r.flags === 'slave' && r['master-link-status'] === 'ok');
    });
    const servers = [...started];
    const masterPort = async () => {
      const addr = (await withRedis(sentinelPort, (c) => c.call('SENTINEL', 'get-master-addr-by-name', MASTER))) as [string, string] | null;
      if (!addr) throw new Error(`Sentinel on ${sentinelPort} does not know ${MASTER}`);
      return Number(addr[1]);
    };
    const primaryNow = async () => {
      const port = await masterPort();
      const server = servers.find((s) => s.port === port);
      if (!server) throw new Error(`Sentinel names 127.0.0.1:${port} primary, which this helper did not start`);
      return server;
    };
    return {
      masterName: MASTER,
      sentinels: [`127.0.0.1:${sentinelPort}`],
      sentinelPort,
      servers,
      masterPort,
      primary: primaryNow,
      async waitForReplica() {
        const { port } = await primaryNow();
        // WAIT covers the writes of the connection that issues it; a write of our own, sent
        // after everything Gatehouse wrote, is replicated after all of it.
        const acked = await withRedis(port, async (c) => {
          await c.set('gatehouse-test:replication-probe', String(Date.now()));
          return (await c.call('WAIT', '1', '1500')) as number; // under withRedis' 2 s command timeout
        });
        if (acked < 1) throw new Error(`the replica did not acknowledge the primary's writes within 1.5 s (WAIT answered ${acked})`);
      },
      async killPrimary() {
        const victim = await primaryNow();
        const killedAt = Date.now();
        process.kill(victim.pid, 'SIGKILL');
        await victim.stop(); // reaps it and removes its directory (it is already dead)
        const promotedPort = await waitUntil(`Sentinel promotes a replica after the primary on ${victim.port} was killed`, async () => {
          const port = await masterPort();
          if (port === victim.port) return undefined;
          const role = (await withRedis(port, (c) => c.call('ROLE'))) as [string, ...unknown[]];
          return role[0] === 'master' ? port : undefined;
        });
        return { killedPort: victim.port, promotedPort, promotedMs: Date.now() - killedAt, killedAt };
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

interface SentinelProcess {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Starts one Sentinel on a free loopback port with a config of its own in a temporary directory. */
async function spawnSentinel(primaryPort: number): Promise<SentinelProcess> {
  const how = sentinelCommand();
  if (!how) throw new Error(sentinelSkipReason());
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sentinel-'));
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'daemonize no',
      `dir ${dir}`,
      'logfile ""',
      'sentinel resolve-hostnames no',
      `sentinel monitor ${MASTER} 127.0.0.1 ${primaryPort} 1`,
      `sentinel down-after-milliseconds ${MASTER} 500`,
      `sentinel failover-timeout ${MASTER} 3000`,
      `sentinel parallel-syncs ${MASTER} 1`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(how.bin, [conf, ...how.extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let spawnError: string | undefined;
  child.once('error', (err) => (spawnError = err.message));
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM'); // ChildProcess.kill signals this child's own pid
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const dead = () => spawnError ?? (child.exitCode !== null || child.signalCode !== null ? `the Sentinel exited (${child.exitCode ?? child.signalCode})` : undefined);
    await waitUntil(`the Sentinel on ${port} answers PING`, () => withRedis(port, (c) => c.ping()), WAIT_MS, 100, dead);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`, { cause: err });
  }
  return { port, pid: child.pid!, stop };
}
