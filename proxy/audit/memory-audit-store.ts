import type { Clock } from '../clock.js';
import type { AuditStore, SealedEntry } from './saml-audit-types.js';

interface Held extends SealedEntry {
  expiresAt: number;
  keys: readonly string[];
}

/**
 * The audit trail in process memory (`session.store: memory`): readable only through this
 * process (the admin page and API), gone at restart. Entries are kept in arrival order; expired
 * ones are dropped from the front as new ones arrive, and past `maxEntries` the oldest go.
 */
export class MemoryAuditStore implements AuditStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Held>();
  /** Email key -> ids, in arrival order. */
  private readonly byKey = new Map<string, Set<string>>();

  constructor(private readonly clock: Clock) {}

  async add(entry: SealedEntry, indexKeys: readonly string[], retentionMs: number, maxEntries: number): Promise<void> {
    this.prune(maxEntries - 1);
    this.entries.set(entry.id, { ...entry, expiresAt: this.clock.now() + retentionMs, keys: indexKeys });
    for (const k of indexKeys) {
      let ids = this.byKey.get(k);
      if (!ids) this.byKey.set(k, (ids = new Set()));
      ids.add(entry.id);
    }
  }

  async recent(indexKey: string | undefined, since: number, limit: number, offset: number): Promise<SealedEntry[]> {
    const now = this.clock.now();
    const ids = indexKey === undefined ? [...this.entries.keys()] : [...(this.byKey.get(indexKey) ?? [])];
    const live = ids.map((id) => this.entries.get(id)).filter((e): e is Held => e !== undefined && e.expiresAt > now && e.at >= since);
    live.sort((a, b) => b.at - a.at);
    return live.slice(offset, offset + limit).map(({ id, at, sealed }) => ({ id, at, sealed }));
  }

  /** Number of entries held (expired ones included until pruned); for tests and health. */
  get size(): number {
    return this.entries.size;
  }

  /** The stored values as they sit in memory, for tests that a dump reveals nothing. */
  dump(): string {
    return JSON.stringify([...this.entries.values()].map(({ id, at, sealed }) => ({ id, at, sealed })));
  }

  /** Drops expired entries from the front, then the oldest until at most `keep` remain. */
  private prune(keep: number): void {
    const now = this.clock.now();
    for (const [id, e] of this.entries) {
      if (e.expiresAt > now && this.entries.size <= keep) break;
      this.remove(id, e);
    }
  }

  private remove(id: string, e: Held): void {
    this.entries.delete(id);
    for (const k of e.keys) {
      const ids = this.byKey.get(k);
      ids?.delete(id);
      if (ids?.size === 0) this.byKey.delete(k);
    }
  }
}
