import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { redisSkipReason, startRedis, type RunningRedis } from './redis-server.js';
import { waitUntil, withRedis } from './redis-sentinel.js';

const run = promisify(execFile);

/** A Redis Cluster of three primaries (no replicas) on loopback, every process ours. */
export interface RunningCluster {
  /** `host:port` of each node, as `session.redis.nodes` takes them. */
  nodes: string[];
  servers: RunningRedis[];
  /** Stops every node this helper started (by pid: SIGTERM, then SIGKILL) and removes its files. */
  stop(): Promise<void>;
}

/** Why Cluster tests cannot run here, or undefined when they can (`redis-cli --cluster create` builds it). */
export function clusterSkipReason(): string | undefined {
  const redis = redisSkipReason();
  if (redis) return redis;
  const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  return cli.status === 0 ? undefined : 'redis-cli is not installed (apt-get install redis-tools)';
}

/**
 * Starts three `redis-server --cluster-enabled yes` on free loopback ports (the cluster bus on a
 * free port of its own, `--cluster-port`, since port + 10000 may not exist), joins them with
 * `redis-cli --cluster create … --cluster-replicas 0 --cluster-yes`, and waits until every node
 * says `cluster_state:ok` with all 16384 slots and the three nodes known.
 */
export async function startCluster(): Promise<RunningCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  const servers: RunningRedis[] = [];
  const stop = async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const bus = await freePort();
      servers.push(
        await startRedis({
          port,
          args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '2000', '--cluster-port', String(bus)],
        }),
      );
    }
    const nodes = servers.map((s) => `127.0.0.1:${s.port}`);
    try {
      await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 15_000 });
    } catch (err) {
      const e = err as { message: string; stdout?: string; stderr?: string };
      throw new Error(`redis-cli --cluster create ${nodes.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
    }
    for (const s of servers) {
      await waitUntil(`the cluster node on ${s.port} reports cluster_state:ok with all slots and 3 nodes`, async () => {
        const info = await redisClusterInfo(s.port);
        return info.cluster_state === 'ok' && info.cluster_slots_ok === '16384' && info.cluster_known_nodes === '3' ? info : undefined;
      });
    }
    // Every node must also know which node serves each slot (its view of the others is complete).
    for (const s of servers) {
      await waitUntil(`the cluster node on ${s.port} maps the slots to all 3 primaries`, async () => {
        const slots = (await withRedis(s.port, (c) => c.call('CLUSTER', 'SLOTS'))) as [number, number, [string, number, ...unknown[]]][];
        return new Set(slots.map((r) => r[2][1])).size === 3;
      });
    }
    return { nodes, servers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `CLUSTER INFO` of the node on `port`, as field → value. */
async function redisClusterInfo(port: number): Promise<Record<string, string>> {
  const text = (await withRedis(port, (c) => c.call('CLUSTER', 'INFO'))) as string;
  return Object.fromEntries(
    text
      .split(/\r?\n/)
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}
