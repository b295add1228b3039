import type { Clock } from '../clock.js';
import { TtlMap } from '../store/ttl-map.js';
import type { EndedListener, SessionStore, StoreHealth } from './types.js';

/**
 * Sessions in process memory: the embedded default for one Gatehouse instance. Bounded (the
 * oldest session is dropped when full); "announcing" an end reaches only this process, which is
 * every instance there is.
 */
export class MemorySessionStore implements SessionStore {
  readonly kind = 'memory';
  private readonly values: TtlMap<string>;
  /** Index key (or '' for all) -> id -> absolute end. Pruned as it is read and written. */
  private readonly index = new Map<string, Map<string, number>>();
  private readonly listeners: EndedListener[] = [];
  private readonly started: number;

  constructor(
    private readonly clock: Clock,
    private readonly maxSessions = 500_000,
  ) {
    this.values = new TtlMap(clock, maxSessions);
    this.started = clock.now();
  }

  async create(id: string, value: string, ttlMs: number, expiresAt: number, indexKeys: readonly string[]): Promise<void> {
    this.values.set(id, value, ttlMs);
    for (const key of ['', ...indexKeys]) {
      let ids = this.index.get(key);
      // A user's index is pruned at their logins (every 1024th once it is large, so a user with
      // thousands of sessions does not cost quadratic time); the index of all at the store's bound.
      const userDue = key !== '' && ids !== undefined && (ids.size < 1024 || ids.size % 1024 === 0);
      if (ids && (userDue || ids.size >= this.maxSessions)) this.prune(key, ids);
      ids = this.index.get(key);
      if (!ids) this.index.set(key, (ids = new Map()));
      ids.set(id, expiresAt);
    }
  }

  async get(id: string): Promise<string | undefined> {
    return this.values.get(id);
  }

  async refresh(id: string, value: string, ttlMs: number): Promise<boolean> {
    if (this.values.get(id) === undefined) return false;
    this.values.set(id, value, ttlMs);
    return true;
  }

  async delete(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.values.delete(id);
  }

  async indexed(indexKey: string | undefined, limit: number, offset = 0): Promise<string[]> {
    const key = indexKey ?? '';
    const ids = this.index.get(key);
    if (!ids) return [];
    if (offset === 0) this.prune(key, ids);
    return [...ids.keys()].slice(offset, offset + limit);
  }

  async getMany(ids: readonly string[]): Promise<(string | undefined)[]> {
    return ids.map((id) => this.values.get(id));
  }

  async announceEnded(ids: readonly string[]): Promise<void> {
    for (const l of this.listeners) l(ids);
  }

  onEnded(listener: EndedListener): void {
    this.listeners.push(listener);
  }

  health(): StoreHealth {
    return { kind: 'memory', status: 'ready', since: this.started, listening: true };
  }

  async close(): Promise<void> {
    this.values.close();
    this.index.clear();
  }

  private prune(key: string, ids: Map<string, number>): void {
    const now = this.clock.now();
    for (const [id, end] of ids) if (end <= now || this.values.get(id) === undefined) ids.delete(id);
    if (ids.size === 0 && key !== '') this.index.delete(key);
  }
}
