import type { Clock } from '../clock.js';

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * A Map whose entries expire, bounded in size. When full, the oldest entry is dropped, so a flood
 * of login starts cannot grow memory without bound. Expired entries are swept on a timer that
 * does not keep the process alive.
 */
export class TtlMap<V> {
  private readonly map = new Map<string, Entry<V>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries: number,
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

  set(key: string, value: V, ttlMs: number): void {
    this.map.delete(key);
    if (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (!oldest.done) this.map.delete(oldest.value);
    }
    this.map.set(key, { value, expiresAt: this.clock.now() + ttlMs });
  }

  /** Sets only when no live entry exists; returns whether it did. Atomic within the process. */
  setIfAbsent(key: string, value: V, ttlMs: number): boolean {
    if (this.get(key) !== undefined) return false;
    this.set(key, value, ttlMs);
    return true;
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
