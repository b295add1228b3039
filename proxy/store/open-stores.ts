import { resolve } from 'node:path';
import { MemoryAuditStore } from '../audit/memory-audit-store.js';
import { RedisAuditStore } from '../audit/redis-audit-store.js';
import type { AuditStore } from '../audit/saml-audit-types.js';
import type { Clock } from '../clock.js';
import type { GatehouseConfig } from '../config/schema.js';
import { F, type Logger } from '../log.js';
import type { GroupsSeen } from '../policy/groups-seen.js';
import { MemorySessionStore } from '../session/memory-store.js';
import { RedisSessionStore } from '../session/redis-session-store.js';
import type { SessionStore, StoreHealth } from '../session/types.js';
import { openGroupsSeen } from './groups-seen-file.js';
import { RedisGroupsSeen } from './groups-seen-redis.js';
import { describeRedis, RedisConnection, type RedisSettings } from './redis-connection.js';
import { RedisStateStore } from './redis-state-store.js';
import { MemoryStateStore, type StateStore } from './state-store.js';

/** Every store a Gatehouse instance uses, all in memory or all in one Redis. */
export interface Stores {
  sessions: SessionStore;
  /** Pending logins (short-lived; losing one costs a retry). */
  logins: StateStore;
  /** Assertion IDs already used (must never be forgotten before they expire). */
  replay: StateStore;
  /** Longer-lived records: SCIM users. */
  records: StateStore;
  groupsSeen: GroupsSeen;
  /** The SAML audit trail (sealed entries; expiring after `saml.audit.retention`). */
  samlAudit: AuditStore;
  /** Pub/sub shared by every instance (Redis only; absent for the memory store). */
  announcements?: Announcements;
  health(): StoreHealth;
  close(): Promise<void>;
}

/** Fire-and-forget messages to every instance on a channel (best effort: may be missed). */
export interface Announcements {
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>;
}

/** The Redis settings `session:` describes, or undefined for the memory store. */
export function redisSettings(session: GatehouseConfig['session'], dir: string): RedisSettings | undefined {
  if (session.store === 'memory') return undefined;
  const details = session.redis ?? {
    tls: false,
    key_prefix: 'gatehouse:',
    connect_timeout: 5_000,
    command_timeout: 2_000,
    offline_wait: 1_000,
    offline_queue: 1_000,
  };
  return { ...details, ...(session.store === 'redis' ? {} : { url: session.store }), dir };
}

/**
 * Opens the stores the config names. Redis: one connection (and one subscriber) shared by all,
 * reachable before Gatehouse serves (no Redis, no start); `maxmemory-policy` is checked, since
 * an evicting Redis could forget the replay cache or a revocation.
 */
export async function openStores(config: GatehouseConfig, dir: string, log: Logger, clock: Clock): Promise<Stores> {
  const redis = redisSettings(config.session, dir);
  if (!redis) {
    const logins = new MemoryStateStore(clock, 200_000, 'evict-oldest');
    // A login flood may push out pending logins (a retry fixes that), but must never push out
    // replay records, so the replay store refuses new entries when full (fail closed).
    const replay = new MemoryStateStore(clock, 500_000, 'refuse');
    // SCIM users and deactivation marks: refused when full rather than forgetting a deactivation.
    const records = new MemoryStateStore(clock, 1_000_000, 'refuse');
    const sessions = new MemorySessionStore(clock);
    const seenFile = config.saml.groups_seen_file;
    const groupsSeen = await openGroupsSeen(seenFile === undefined ? undefined : resolve(dir, seenFile), { clock, log });
    return {
      sessions,
      logins,
      replay,
      records,
      groupsSeen,
      samlAudit: new MemoryAuditStore(clock),
      health: () => sessions.health(),
      close: async () => void (await Promise.all([logins.close(), replay.close(), records.close(), sessions.close(), groupsSeen.close()])),
    };
  }
  const conn = await RedisConnection.open(redis, log);
  try {
    await warnIfEvicting(conn, log);
    warnIfExposed(redis, log);
    const sessions = await RedisSessionStore.open(conn);
    const groupsSeen = new RedisGroupsSeen(conn, clock, log);
    log.info({ [F.event]: 'store-ready', store: 'redis', at: describeRedis(redis), key_prefix: redis.key_prefix }, 'session store: redis');
    return {
      sessions,
      logins: new RedisStateStore(conn, 'login:'),
      replay: new RedisStateStore(conn, 'replay:'),
      records: new RedisStateStore(conn, 'rec:'),
      groupsSeen,
      samlAudit: new RedisAuditStore(conn, clock),
      announcements: { publish: (ch, m) => conn.publish(ch, m), subscribe: (ch, on) => conn.subscribe(ch, on, () => {}) },
      health: () => conn.health(),
      close: async () => {
        await groupsSeen.close();
        await conn.close();
      },
    };
  } catch (err) {
    await conn.close();
    throw err;
  }
}

/** Redis evicting keys under memory pressure could forget a replay record: say so at startup. */
async function warnIfEvicting(conn: RedisConnection, log: Logger): Promise<void> {
  let policy: string | undefined;
  try {
    const reply = (await conn.run((c) => c.call('CONFIG', 'GET', 'maxmemory-policy'))) as string[];
    policy = reply[1];
  } catch {
    return; // managed services often refuse CONFIG: nothing to check
  }
  // allkeys-* and volatile-* both evict Gatehouse keys (nearly all carry a TTL): only noeviction is safe.
  if (policy && policy !== 'noeviction') {
    log.warn({ [F.event]: 'store-evicting', store: 'redis', maxmemory_policy: policy }, 'Redis may evict keys with a TTL under memory pressure (maxmemory-policy); every Gatehouse key has one. Use noeviction');
  }
}

/**
 * Whoever can write to Redis can undo a revocation or a SCIM deactivation (restore a deleted
 * key), so Redis off this machine without a password or without TLS is worth a line at startup.
 */
function warnIfExposed(s: RedisSettings, log: Logger): void {
  const hosts = s.url ? [new URL(s.url).hostname] : (s.sentinels ?? s.nodes ?? []).map((h) => h.slice(0, h.lastIndexOf(':')));
  const remote = hosts.some((h) => !['127.0.0.1', 'localhost', '[::1]', '::1'].includes(h));
  if (!remote) return;
  const password = Boolean(s.password || (s.url && new URL(s.url).password));
  const tls = s.tls || Boolean(s.url?.startsWith('rediss:'));
  if (!password || !tls) {
    log.warn({ [F.event]: 'store-exposed', store: 'redis', password, tls }, 'Redis is reached over the network without a password or without TLS: anyone who can write to it can undo revocations (docs/sessions.md)');
  }
}
