import { Cluster } from 'ioredis';
import type { Clock } from '../clock.js';
import { fail } from '../errors.js';
import type { RedisConnection } from '../store/redis-connection.js';
import type { AuditStore, SealedEntry } from './saml-audit-types.js';

const entryKey = (id: string) => `audit:e:${id}`;
const indexKey = (key: string | undefined) => (key === undefined ? 'audit:all' : `audit:u:${key}`);

/**
 * The audit trail in the shared Redis, readable by every instance and by `gatehouse audit saml`.
 * Layout (under the key prefix): `audit:e:<id>` the sealed entry, expiring after the retention;
 * `audit:all` and `audit:u:<HMAC(email)>` sorted sets of ids scored by time, trimmed to the
 * retention and to `maxEntries` as entries are added, and expiring themselves when no entry is
 * added for a whole retention. One key per command, so it runs on a Cluster as well.
 *
 * Writes never wait for a reconnect: while Redis is away they fail at once, so audit writes never
 * take the places of session commands in the connection's offline queue.
 */
export class RedisAuditStore implements AuditStore {
  readonly kind = 'redis';

  constructor(
    private readonly conn: RedisConnection,
    private readonly clock: Clock,
  ) {}

  async add(entry: SealedEntry, indexKeys: readonly string[], retentionMs: number, maxEntries: number): Promise<void> {
    if (this.conn.client.status !== 'ready') throw fail('SESSION_STORE_UNAVAILABLE', 'audit-store-unreachable');
    const oldest = this.clock.now() - retentionMs;
    await this.conn.run(async (c) => {
      await c.set(entryKey(entry.id), entry.sealed, 'PX', retentionMs);
      await Promise.all(
        [undefined, ...indexKeys].flatMap((k) => [
          c.zadd(indexKey(k), entry.at, entry.id),
          c.zremrangebyscore(indexKey(k), '-inf', `(${oldest}`),
          c.zremrangebyrank(indexKey(k), 0, -(maxEntries + 1)),
          c.pexpire(indexKey(k), retentionMs),
        ]),
      );
      // Over the total bound: the oldest entries go (their per-email index lines are pruned as read).
      const over = (await c.zcard(indexKey(undefined))) - maxEntries;
      if (over > 0) {
        const gone = await c.zpopmin(indexKey(undefined), over);
        const ids = gone.filter((_, i) => i % 2 === 0);
        await Promise.all(ids.map((id) => c.del(entryKey(id))));
      }
    });
  }

  async recent(key: string | undefined, since: number, limit: number, offset: number): Promise<SealedEntry[]> {
    return this.conn.run(async (c) => {
      const flat = await c.zrevrangebyscore(indexKey(key), '+inf', since, 'WITHSCORES', 'LIMIT', offset, limit);
      const ids = flat.filter((_, i) => i % 2 === 0);
      const ats = flat.filter((_, i) => i % 2 === 1).map(Number);
      if (ids.length === 0) return [];
      const keys = ids.map(entryKey);
      // MGET spans hash slots, which a Cluster refuses: one GET per key there.
      const values = c instanceof Cluster ? await Promise.all(keys.map((k) => c.get(k))) : await c.mget(...keys);
      const gone = ids.filter((_, i) => values[i] == null);
      if (gone.length > 0 && key !== undefined) await c.zrem(indexKey(key), ...gone);
      return ids.flatMap((id, i) => (values[i] == null ? [] : [{ id, at: ats[i]!, sealed: values[i]! }]));
    });
  }
}
