import { Redis } from 'ioredis';
import type { StateStore } from './state-store.js';

/** Where a Redis store keeps its keys: one prefix per Gatehouse deployment. */
export interface RedisStateStoreOptions {
  url: string;
  /** Prepended to every key (`gatehouse:`), so deployments can share a Redis. */
  keyPrefix: string;
  /** Give up connecting (and fail a command) after this long. */
  connectTimeoutMs?: number;
}

/**
 * The StateStore in Redis, for several Gatehouse instances sharing login state and the replay
 * cache. Each operation is one Redis command, so each is atomic: `SET NX PX` for one-time use,
 * `GETDEL` (Redis 6.2+) to consume a value once. Commands fail at once while Redis is away
 * (no offline queue): a caller fails closed instead of waiting without bound.
 */
export class RedisStateStore implements StateStore {
  private constructor(private readonly redis: Redis) {}

  /** Connects and waits until Redis answers. @throws when it cannot within the timeout */
  static async connect(opts: RedisStateStoreOptions): Promise<RedisStateStore> {
    const redis = new Redis(opts.url, {
      keyPrefix: opts.keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: opts.connectTimeoutMs ?? 5_000,
    });
    try {
      await redis.connect();
      await redis.ping();
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    return new RedisStateStore(redis);
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    await this.redis.set(key, value, 'PX', ttlMs);
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'PX', ttlMs, 'NX')) === 'OK';
  }

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async take(key: string): Promise<string | undefined> {
    return (await this.redis.getdel(key)) ?? undefined;
  }

  async delete(key: string): Promise<void> {
    await this.redis.del(key);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
