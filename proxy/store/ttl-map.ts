import type { Clock } from '../clock.js';

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * What a full map does with one more entry: `evict-oldest` drops the oldest live entry (fine for
 * state whose loss only costs a retry, like pending logins); `refuse` keeps every live entry and
 * refuses the new one (for state whose loss would be a security hole, like the replay cache).
 */
export type WhenFull = 'evict-oldest' | 'refuse';

/**
 * A Map whose entries expire, bounded in size so a flood cannot grow memory without bound.
 * Expired entries are swept on a timer that does not keep the process alive.
 */
export class TtlMap<V> {
  private readonly map = new Map<string, Entry<V>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries: number,
    private readonly whenFull: WhenFull = 'evict-oldest',
    sweepEveryMs = 30_000,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepEveryMs);
    this.timer.unref();
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.clock.now()) {
      this.map.delete(key);
      return undefined;
    }
    return e.value;
  }

  /** Stores an entry; false when the map is full of live entries and refuses new ones. */
  set(key: string, value: V, ttlMs: number): boolean {
    this.map.delete(key);
    if (this.map.size >= this.maxEntries && !this.makeRoom()) return false;
    this.map.set(key, { value, expiresAt: this.clock.now() + ttlMs });
    return true;
  }

  private makeRoom(): boolean {
    if (this.whenFull === 'refuse') {
      this.sweep();
      return this.map.size < this.maxEntries;
    }
    const oldest = this.map.keys().next();
    if (!oldest.done) this.map.delete(oldest.value);
    return true;
  }

  /** Sets only when no live entry exists; returns whether it did. Atomic within the process. */
  setIfAbsent(key: string, value: V, ttlMs: number): boolean {
    if (this.get(key) !== undefined) return false;
    return this.set(key, value, ttlMs);
  }

  /** Moves the expiry of a live entry. */
  expire(key: string, ttlMs: number): void {
    const e = this.map.get(key);
    if (e) e.expiresAt = this.clock.now() + ttlMs;
  }

  delete(key: string): boolean {
    return this.map.delete(key);
  }

  /** Removes every expired entry. */
  sweep(): void {
    const now = this.clock.now();
    for (const [k, e] of this.map) if (e.expiresAt <= now) this.map.delete(k);
  }

  close(): void {
    clearInterval(this.timer);
    this.map.clear();
  }
}
