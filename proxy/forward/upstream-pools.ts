import { Pool } from 'undici';

/**
 * One kept-alive undici Pool per upstream origin, created at startup (never per request) and
 * shared by every route that names the same origin.
 */
export class UpstreamPools {
  private readonly pools = new Map<string, Pool>();

  constructor(origins: Iterable<string>, private readonly connectionsPerOrigin = 256) {
    for (const origin of origins) this.ensure(origin);
  }

  /** The pool for an origin known at startup. */
  get(origin: string): Pool {
    const pool = this.pools.get(origin);
    if (!pool) throw new Error(`no pool for ${origin}`);
    return pool;
  }

  private ensure(origin: string): void {
    if (this.pools.has(origin)) return;
    this.pools.set(
      origin,
      new Pool(origin, {
        connections: this.connectionsPerOrigin,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connect: { timeout: 5_000, noDelay: true },
        // Timeouts per request come from the route; body timeout guards stalled streams.
        bodyTimeout: 300_000,
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close().catch(() => p.destroy())));
  }
}
