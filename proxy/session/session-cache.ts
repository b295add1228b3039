import type { Session } from './types.js';

/** One open session this instance has read recently. */
export interface CachedSession {
  id: string;
  session: Session;
  /** When it was last read from (or written to) the store; epoch ms. */
  checkedAt: number;
  /** The cache generation it was read in (see `SessionCache.generation`). */
  generation: number;
}

/**
 * Open sessions by cookie token, bounded (the oldest entry goes when full). Ends announced by any
 * instance evict by id. `generation` grows when listening resumes after announcements may have
 * been missed (the subscriber reconnected): entries from an older generation are never trusted
 * again, not even for the outage grace. `changes` grows with every eviction, so a read that
 * raced an announcement is not cached (it may carry a session that just ended).
 */
export class SessionCache {
  private readonly byToken = new Map<string, CachedSession>();
  private readonly tokenOf = new Map<string, string>();
  generation = 0;
  changes = 0;

  constructor(private readonly max: number) {}

  get(token: string): CachedSession | undefined {
    return this.byToken.get(token);
  }

  set(token: string, entry: CachedSession): void {
    this.delete(token);
    if (this.byToken.size >= this.max) {
      const oldest = this.byToken.keys().next();
      if (!oldest.done) this.delete(oldest.value);
    }
    this.byToken.set(token, entry);
    this.tokenOf.set(entry.id, token);
  }

  delete(token: string): void {
    const entry = this.byToken.get(token);
    if (!entry) return;
    this.byToken.delete(token);
    this.tokenOf.delete(entry.id);
  }

  /** Sessions ended (anywhere): forget them. `all`: announcements may have been missed. */
  evict(ids: readonly string[] | 'all'): void {
    this.changes++;
    if (ids === 'all') {
      this.generation++;
      return;
    }
    for (const id of ids) {
      const token = this.tokenOf.get(id);
      if (token !== undefined) this.delete(token);
    }
  }

  get size(): number {
    return this.byToken.size;
  }
}
