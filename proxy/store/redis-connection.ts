import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config/schema.js';
import { fail } from '../errors.js';
import { EVENTS, F, type Logger } from '../log.js';
import type { StoreHealth } from '../session/types.js';

/** One server, a Sentinel-managed primary, or a Cluster: the commands Gatehouse uses work on each. */
export type RedisClient = Redis | Cluster;

/** Where to reach Redis, resolved from `session.store` and `session.redis`. */
export interface RedisSettings extends Omit<RedisConfig, 'url'> {
  url?: string;
  /** Directory the config's relative paths (tls_ca_file) start from. */
  dir?: string;
}

const RETRY_MAX_MS = 2_000;

/**
 * The connection to Redis every shared store uses: one command client, one subscriber, and the
 * rules for an outage. ioredis keeps reconnecting in the background (backoff up to 2 s); its
 * own offline queue is off, and instead at most `offline_queue` commands wait up to
 * `offline_wait` for the connection to return: past either bound a command fails at once with
 * SESSION_STORE_UNAVAILABLE (503), so an outage never grows memory or hangs requests. A command
 * Redis does not answer within `command_timeout` fails the same way.
 */
export class RedisConnection {
  private waiting = new Set<() => void>();
  private status: StoreHealth['status'] = 'down';
  private since: number;
  private lastError: string | undefined;
  private listeningNow = false;
  private outageLogged = false;
  private readonly subscribers: RedisClient[] = [];

  private constructor(
    readonly client: RedisClient,
    /** Prefix of keys (applied by ioredis) and of channels (applied here). */
    readonly prefix: string,
    private readonly settings: RedisSettings,
    private readonly log: Logger,
  ) {
    this.since = Date.now();
    client.on('ready', () => {
      if (this.outageLogged) log.info({ [F.event]: EVENTS.storeRecovered, store: 'redis', down_ms: Date.now() - this.since }, 'session store reachable again');
      this.outageLogged = false;
      this.setStatus('ready');
      for (const wake of this.waiting) wake();
    });
    client.on('error', (err: Error) => this.noteError(err));
    client.on('close', () => this.noteError(new Error('connection closed')));
  }

  /**
   * Connects and waits until Redis answers.
   * @throws Error naming the address when it cannot within `connect_timeout`
   */
  static async open(settings: RedisSettings, log: Logger): Promise<RedisConnection> {
    const client = createClient(settings);
    const conn = new RedisConnection(client, settings.key_prefix, settings, log);
    try {
      await withTimeout(client.connect(), settings.connect_timeout, `Redis did not answer within ${settings.connect_timeout} ms at ${describeRedis(settings)}`);
      await client.ping();
    } catch (err) {
      client.disconnect();
      throw new Error(`cannot reach the session store (${describeRedis(settings)}): ${(err as Error).message}`, { cause: err });
    }
    return conn;
  }

  /**
   * Runs commands once Redis is reachable (waiting within the bounds above); any failure becomes
   * SESSION_STORE_UNAVAILABLE with the cause kept for the log.
   */
  async run<T>(op: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.client.status !== 'ready') await this.waitForReady();
    try {
      return await op(this.client);
    } catch (err) {
      this.noteError(err as Error);
      throw fail('SESSION_STORE_UNAVAILABLE', 'session-store-unreachable', err);
    }
  }

  /**
   * Subscribes to a channel (prefixed) on a connection of its own. `onLost` runs when listening
   * resumes after messages may have been missed (a reconnect, a Cluster moving the subscriber);
   * `listening` says whether messages are known to arrive now.
   */
  async subscribe(channel: string, onMessage: (message: string) => void, onLost: () => void): Promise<void> {
    const name = this.prefix + channel;
    const sub = this.client.duplicate();
    this.subscribers.push(sub);
    sub.on('error', () => {});
    sub.on('message', (ch: string, message: string) => {
      if (ch === name) onMessage(message);
    });
    // While the link is down nothing cached is trusted (`listening` is false); what was missed
    // meanwhile is dealt with when it is back (`onLost` below), so cached entries stay usable for
    // the outage grace until then.
    const lost = () => {
      this.listeningNow = false;
    };
    sub.on('close', lost);
    sub.on('end', lost);
    // A Cluster moves a subscription to another node without closing: messages published in
    // that gap are lost, so cached sessions are no longer trusted (the link itself stays up).
    if (sub instanceof Cluster) sub.on('-node', () => onLost()).on('node error', () => onLost());
    // After a reconnect, listen again before trusting anything cached: what was announced
    // meanwhile is lost, so the caller drops its cache (onLost) and only then relies on messages.
    sub.on('ready', () => {
      sub.subscribe(name).then(
        () => {
          onLost();
          this.listeningNow = true;
        },
        () => {},
      );
    });
    await sub.connect();
    await sub.subscribe(name);
    this.listeningNow = true;
  }

  /** Publishes on a prefixed channel (through `run`: fails with 503 when Redis is away). */
  async publish(channel: string, message: string): Promise<void> {
    await this.run((c) => c.publish(this.prefix + channel, message));
  }

  get listening(): boolean {
    return this.listeningNow;
  }

  health(): StoreHealth {
    return { kind: 'redis', status: this.client.status === 'ready' ? 'ready' : 'down', since: this.since, listening: this.listeningNow, ...(this.lastError ? { lastError: this.lastError } : {}) };
  }

  async close(): Promise<void> {
    for (const c of [...this.subscribers, this.client]) await c.quit().catch(() => c.disconnect());
  }

  private async waitForReady(): Promise<void> {
    const { offline_wait: wait, offline_queue: max } = this.settings;
    if (wait === 0 || this.waiting.size >= max) throw fail('SESSION_STORE_UNAVAILABLE', 'session-store-unreachable');
    let wake!: () => void;
    const ready = new Promise<boolean>((resolve) => {
      wake = () => resolve(true);
      setTimeout(() => resolve(false), wait).unref();
    });
    this.waiting.add(wake);
    const ok = await ready.finally(() => this.waiting.delete(wake));
    if (!ok || this.client.status !== 'ready') throw fail('SESSION_STORE_UNAVAILABLE', 'session-store-unreachable');
  }

  private setStatus(status: StoreHealth['status']): void {
    if (status === this.status) return;
    this.status = status;
    this.since = Date.now();
  }

  /** Logs the first error of an outage (one line, not one per retry). */
  private noteError(err: Error): void {
    this.lastError = err.message || String(err);
    // A failed command on a live connection is reported by its caller; this is about the link.
    if (this.client.status === 'ready') return;
    this.setStatus('down');
    if (this.outageLogged) return;
    this.outageLogged = true;
    this.log.warn({ [F.event]: EVENTS.storeDown, [F.code]: 'SESSION_STORE_UNAVAILABLE', store: 'redis', at: describeRedis(this.settings), reason: this.lastError }, 'session store unreachable; reconnecting');
  }
}

/** Where Redis is, without credentials: for logs and messages. */
export function describeRedis(s: RedisSettings): string {
  if (s.sentinels) return `sentinel ${s.master_name} via ${s.sentinels.join(',')}`;
  if (s.nodes) return `cluster ${s.nodes.join(',')}`;
  const url = new URL(s.url ?? 'redis://localhost');
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

function createClient(s: RedisSettings): RedisClient {
  const tls = tlsOptions(s);
  const common: RedisOptions = {
    keyPrefix: s.key_prefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: s.connect_timeout,
    commandTimeout: s.command_timeout,
    ...(s.username ? { username: s.username } : {}),
    ...(s.password ? { password: s.password } : {}),
    ...(tls ? { tls } : {}),
  };
  const retryStrategy = (times: number) => Math.min(100 * times, RETRY_MAX_MS);
  if (s.nodes) {
    return new Cluster(s.nodes.map(hostAndPort), {
      keyPrefix: s.key_prefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy,
      redisOptions: { ...common, keyPrefix: undefined },
    });
  }
  if (s.sentinels) {
    return new Redis({
      ...common,
      sentinels: s.sentinels.map(hostAndPort),
      name: s.master_name,
      ...(s.password ? { sentinelPassword: s.password } : {}),
      ...(tls ? { enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
      retryStrategy,
      sentinelRetryStrategy: retryStrategy,
    });
  }
  return new Redis(s.url!, { ...common, retryStrategy });
}

function tlsOptions(s: RedisSettings): ConnectionOptions | undefined {
  if (!s.tls && !s.url?.startsWith('rediss:')) return undefined;
  return s.tls_ca_file ? { ca: readFileSync(resolve(s.dir ?? '.', s.tls_ca_file)) } : {};
}

function hostAndPort(text: string): { host: string; port: number } {
  const i = text.lastIndexOf(':');
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(text.slice(i + 1)) };
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
