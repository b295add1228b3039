import { Cluster } from 'ioredis';
import type { RedisConnection } from '../store/redis-connection.js';
import type { EndedListener, SessionStore, StoreHealth } from './types.js';

const CHANNEL = 'sessions-ended';
/**
 * Moves a user index's expiry later, never earlier: a shorter-lived session (a lowered
 * max_lifetime, a rollout with mixed configs) must not make the index forget older sessions,
 * or revocation by email would miss them. KEYS: the index. ARGV: milliseconds to keep it.
 */
const EXTEND = `
local left = redis.call('PTTL', KEYS[1])
local want = tonumber(ARGV[1])
if left >= 0 and left >= want then return 0 end
redis.call('PEXPIRE', KEYS[1], want)
return 1
`;
const sessionKey = (id: string) => `s:${id}`;
const indexKey = (key: string | undefined) => (key === undefined ? 'i:all' : `i:u:${key}`);

/**
 * Sessions in Redis, shared by every Gatehouse instance. Layout (under the key prefix):
 * `s:<id>` the sealed session, expiring with the idle or absolute timeout, whichever is first;
 * `i:all` and `i:u:<HMAC(email)>` sorted sets of ids scored by their absolute end (pruned as they
 * are read). Each command touches one key, so the same code runs on one server, behind Sentinel
 * and on a Cluster. Ends are announced on the `sessions-ended` channel so every instance drops
 * them from its cache at once.
 */
export class RedisSessionStore implements SessionStore {
  readonly kind = 'redis';
  private readonly listeners: EndedListener[] = [];

  private constructor(private readonly conn: RedisConnection) {}

  /** Opens the store and starts listening for ends announced by other instances. */
  static async open(conn: RedisConnection): Promise<RedisSessionStore> {
    const store = new RedisSessionStore(conn);
    await conn.subscribe(CHANNEL, (m) => store.received(m), () => store.emit('all'));
    return store;
  }

  async create(id: string, value: string, ttlMs: number, expiresAt: number, indexKeys: readonly string[]): Promise<void> {
    await this.conn.run(async (c) => {
      const stored = await c.set(sessionKey(id), value, 'PX', ttlMs, 'NX');
      if (stored !== 'OK') throw new Error('session id already in use');
      const now = Date.now();
      await Promise.all([
        c.zadd(indexKey(undefined), expiresAt, id),
        c.zremrangebyscore(indexKey(undefined), '-inf', now),
        ...indexKeys.flatMap((k) => [c.zadd(indexKey(k), expiresAt, id), c.eval(EXTEND, 1, indexKey(k), String(expiresAt - now))]),
      ]);
    });
  }

  async get(id: string): Promise<string | undefined> {
    return (await this.conn.run((c) => c.get(sessionKey(id)))) ?? undefined;
  }

  async refresh(id: string, value: string, ttlMs: number): Promise<boolean> {
    // XX: only if it still exists, so a refresh racing a revocation cannot bring the session back.
    return (await this.conn.run((c) => c.set(sessionKey(id), value, 'PX', ttlMs, 'XX'))) === 'OK';
  }

  async delete(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.conn.run((c) => Promise.all(ids.map((id) => c.del(sessionKey(id)))));
  }

  async indexed(key: string | undefined, limit: number, offset = 0): Promise<string[]> {
    return this.conn.run(async (c) => {
      if (offset === 0) await c.zremrangebyscore(indexKey(key), '-inf', Date.now());
      return c.zrange(indexKey(key), offset, offset + limit - 1);
    });
  }

  async getMany(ids: readonly string[]): Promise<(string | undefined)[]> {
    if (ids.length === 0) return [];
    const keys = ids.map(sessionKey);
    // MGET spans hash slots, which a Cluster refuses: one GET per key there.
    const values = await this.conn.run((c) => (c instanceof Cluster ? Promise.all(keys.map((k) => c.get(k))) : c.mget(...keys)));
    return values.map((v) => v ?? undefined);
  }

  async announceEnded(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // Locally first: this instance must not wait for its own message to come back.
    this.emit(ids);
    await this.conn.publish(CHANNEL, JSON.stringify(ids));
  }

  onEnded(listener: EndedListener): void {
    this.listeners.push(listener);
  }

  health(): StoreHealth {
    return this.conn.health();
  }

  /** The connection is shared with the other Redis stores; whoever opened it closes it. */
  async close(): Promise<void> {}

  private received(message: string): void {
    let ids: unknown;
    try {
      ids = JSON.parse(message);
    } catch {
      return;
    }
    if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) this.emit(ids);
  }

  private emit(ids: readonly string[] | 'all'): void {
    for (const l of this.listeners) l(ids);
  }
}
