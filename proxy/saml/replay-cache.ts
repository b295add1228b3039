import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { StateStore } from '../store/state-store.js';

/**
 * Remembers every accepted assertion until it expires, so each can be used once
 * (SAML profiles 2.0, 4.1.4.5: the SP MUST ensure bearer assertions are not replayed).
 */
export class ReplayCache {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
  ) {}

  /**
   * Claims an assertion ID for its issuer: `claimed` the first time, `replayed` after, and `full`
   * when the cache cannot remember it (then the login must be refused: fail closed).
   */
  async claim(issuer: string, assertionId: string, usableUntil: number): Promise<'claimed' | 'replayed' | 'full'> {
    const key = `replay:${createHash('sha256').update(`${issuer}\n${assertionId}`).digest('base64url')}`;
    const ttl = Math.max(1000, usableUntil - this.clock.now());
    if (await this.store.putIfAbsent(key, '1', ttl)) return 'claimed';
    return (await this.store.get(key)) === undefined ? 'full' : 'replayed';
  }
}
