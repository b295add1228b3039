import type { Clock } from '../clock.js';
import { TtlMap } from '../store/ttl-map.js';
import type { Session, SessionStore } from './types.js';

/** Sessions in process memory: the embedded default for one Gatehouse instance. */
export class MemorySessionStore implements SessionStore {
  private readonly map: TtlMap<Session>;

  constructor(clock: Clock, maxSessions = 500_000) {
    this.map = new TtlMap(clock, maxSessions);
  }

  async get(key: string): Promise<Session | undefined> {
    return this.map.get(key);
  }

  async set(key: string, session: Session, ttlMs: number): Promise<void> {
    this.map.set(key, session, ttlMs);
  }

  async touch(key: string, lastSeenAt: number, ttlMs: number): Promise<void> {
    const s = this.map.get(key);
    if (!s) return;
    s.lastSeenAt = lastSeenAt;
    this.map.expire(key, ttlMs);
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  async close(): Promise<void> {
    this.map.close();
  }
}
