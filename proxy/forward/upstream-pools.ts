import { Pool } from 'undici';
import { NativeUpstreamPool, nativeEngineWorks } from './native-upstream.js';

/** How requests reach one upstream origin. */
export type Forwarder = { kind: 'undici'; pool: Pool } | { kind: 'native'; pool: NativeUpstreamPool };

/** Which upstream client to use: `auto` picks native for http: origins when its self-test passes. */
export type UpstreamClient = 'auto' | 'native' | 'undici';

/**
 * One kept-alive pool per upstream origin, created at startup (never per request) and shared by
 * every route that names the same origin. Plain-http origins use the native engine when it works
 * on this Node (about a third less CPU per request, see bench/); https origins, and any origin
 * when the native self-test fails, use undici.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Forwarder>();

  private constructor(
    /** The engine used for http: origins, for the startup log and readiness. */
    readonly engine: 'native' | 'undici',
    private readonly connectionsPerOrigin: number,
  ) {}

  /** Builds every pool. @throws when `native` is demanded and does not work on this Node */
  static async create(origins: Iterable<string>, client: UpstreamClient, connectionsPerOrigin = 256): Promise<UpstreamPools> {
    const native = client !== 'undici' && (await nativeEngineWorks());
    if (client === 'native' && !native) throw new Error('server.upstream_client is native, but the native engine does not work on this Node; use auto or undici');
    const pools = new UpstreamPools(native ? 'native' : 'undici', connectionsPerOrigin);
    pools.addMissing(origins);
    return pools;
  }

  /**
   * Creates pools for origins not seen yet (a policy reload naming a new upstream), with the
   * engine chosen at startup; existing pools are kept as they are. Returns the origins added.
   */
  addMissing(origins: Iterable<string>): string[] {
    const added: string[] = [];
    for (const origin of origins) {
      if (this.pools.has(origin)) continue;
      const url = new URL(origin);
      const n = this.connectionsPerOrigin;
      this.pools.set(origin, this.engine === 'native' && url.protocol === 'http:' ? { kind: 'native', pool: new NativeUpstreamPool(url, { maxSockets: n }) } : { kind: 'undici', pool: undiciPool(origin, n) });
      added.push(origin);
    }
    return added;
  }

  /** The forwarder for an origin (known at startup or added by a reload). */
  get(origin: string): Forwarder {
    const f = this.pools.get(origin);
    if (!f) throw new Error(`no pool for ${origin}`);
    return f;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.pools.values()].map((f) => (f.kind === 'undici' ? f.pool.close().catch(() => f.pool.destroy()) : f.pool.close())),
    );
  }
}

function undiciPool(origin: string, connections: number): Pool {
  return new Pool(origin, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: 5_000, noDelay: true },
    // Timeouts per request come from the route; body timeout guards stalled streams.
    bodyTimeout: 300_000,
  });
}
