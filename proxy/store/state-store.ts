import type { Clock } from '../clock.js';
import { TtlMap, type WhenFull } from './ttl-map.js';

/**
 * Short-lived shared state: SAML login tracking and the assertion replay cache.
 * Every method is async so a Redis implementation fits behind the same contract.
 */
export interface StateStore {
  put(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Stores only when the key is free; true when stored. Used for one-time-use checks, so a store
   * that cannot keep the entry (full) must answer false, never forget an older one.
   */
  putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  get(key: string): Promise<string | undefined>;
  /** Reads and deletes in one step, so a value can be consumed at most once. */
  take(key: string): Promise<string | undefined>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}

/** The in-process StateStore: the embedded default for a single Gatehouse. */
export class MemoryStateStore implements StateStore {
  private readonly map: TtlMap<string>;

  constructor(clock: Clock, maxEntries = 200_000, whenFull: WhenFull = 'evict-oldest') {
    this.map = new TtlMap(clock, maxEntries, whenFull);
  }

  async put(key: string, value: string, ttlMs: number): Promise<void> {
    if (!this.map.set(key, value, ttlMs)) throw new Error('state store full');
  }

  async putIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.map.setIfAbsent(key, value, ttlMs);
  }

  async get(key: string): Promise<string | undefined> {
    return this.map.get(key);
  }

  async take(key: string): Promise<string | undefined> {
    const value = this.map.get(key);
    this.map.delete(key);
    return value;
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  async close(): Promise<void> {
    this.map.close();
  }
}
