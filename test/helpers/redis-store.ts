import { createLogger } from '../../proxy/log.js';
import { RedisConnection, type RedisSettings } from '../../proxy/store/redis-connection.js';

/** The settings Gatehouse would derive from `session.store: <url>` with defaults, overridable. */
export function redisTestSettings(url: string, prefix: string, over: Partial<RedisSettings> = {}): RedisSettings {
  return { url, key_prefix: prefix, tls: false, connect_timeout: 2_000, command_timeout: 2_000, offline_wait: 500, offline_queue: 100, ...over };
}

/** One silent logger for every test connection (each logger adds a process exit hook). */
const silent = createLogger('silent');

/** A connection to a test Redis, logging nowhere. */
export function openTestConnection(url: string, prefix: string, over: Partial<RedisSettings> = {}): Promise<RedisConnection> {
  return RedisConnection.open(redisTestSettings(url, prefix, over), silent);
}
