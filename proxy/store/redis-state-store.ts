import type { RedisConnection } from './redis-connection.js';
import type { StateStore } from './state-store.js';

/**
 * The StateStore in Redis, for several Gatehouse instances sharing login state and the replay
 * cache: a login started on one instance finishes on any other, and an assertion used on one is
 * refused on all. Each operation is one Redis command, so each is atomic: `SET NX PX` for
 * one-time use, `GETDEL` (Redis 6.2+) to consume a value once. `sub` separates the key spaces of
 * the stores sharing one connection.
 */
export class RedisStateStore implements StateStore {
  constructor(
    private readonly conn: RedisConnection,
    private readonly sub = 'st:',
  ) {}

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.conn.run((c) => c.set(this.sub + key, value, 'PX', ttlMs));
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.conn.run((c) => c.set(this.sub + key, value, 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.conn.run((c) => c.get(this.sub + key))) ?? undefined;
  }

  async take(key: string): Promise<string | undefined> {
    return (await this.conn.run((c) => c.getdel(this.sub + key))) ?? undefined;
  }

  async delete(key: string): Promise<void> {
    await this.conn.run((c) => c.del(this.sub + key));
  }

  /** The connection is shared; whoever opened it closes it. */
  async close(): Promise<void> {}
}
