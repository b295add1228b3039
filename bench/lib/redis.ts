import { Redis } from 'ioredis';

/** Debian's `redis-server` on a free loopback port, stopped by its own pid (the tests' helper). */
export { redisSkipReason, startRedis, type RunningRedis } from '../../test/helpers/redis-server.js';

/** Commands the probe sends itself: never charged to the target. */
const PROBE_COMMANDS = new Set(['info', 'keys']);

/**
 * Parses `INFO commandstats` into calls per command, lower case (`cmdstat_get:calls=3,...` →
 * `get: 3`; sub-commands keep their `|`, e.g. `client|setname`).
 */
export function parseCommandStats(info: string): Record<string, number> {
  const calls: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:\s]+):calls=(\d+)/gm)) calls[m[1]!.toLowerCase()] = Number(m[2]);
  return calls;
}

/**
 * `after - before` per command, leaving out what the probe sends itself (INFO, KEYS),
 * with `total` the sum of the rest. Commands with no calls in between are left out.
 */
export function commandDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  let total = 0;
  for (const [cmd, n] of Object.entries(after)) {
    if (PROBE_COMMANDS.has(cmd.split('|')[0]!)) continue;
    const d = n - (before[cmd] ?? 0);
    if (d <= 0) continue;
    out[cmd] = d;
    total += d;
  }
  return { ...out, total };
}

/** A side connection to a benchmark's Redis: command counts and a look at the keys. */
export interface RedisProbe {
  /** Calls per command so far (`INFO commandstats`). */
  commandCalls(): Promise<Record<string, number>>;
  /** Keys matching a pattern (KEYS: fine on a private benchmark Redis, never on a shared one). */
  keys(pattern: string): Promise<string[]>;
  /** `redis_version` from INFO server. */
  version(): Promise<string>;
  close(): Promise<void>;
}

/** Connects to the Redis on 127.0.0.1:`port` (no key prefix: the probe sees keys as stored). */
export async function openRedisProbe(port: number): Promise<RedisProbe> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await c.connect();
  return {
    commandCalls: async () => parseCommandStats(await c.info('commandstats')),
    keys: (pattern) => c.keys(pattern),
    version: async () => /^redis_version:(\S+)/m.exec(await c.info('server'))?.[1] ?? 'unknown',
    close: async () => void (await c.quit().catch(() => c.disconnect())),
  };
}
