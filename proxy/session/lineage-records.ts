import { hkdfSync } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Identity } from '../policy/types.js';
import type { StateStore } from '../store/state-store.js';
import { openText, sealText } from './aead.js';
import { parseToken, type TokenParts } from './session-keys.js';
import type { PriorLineage, Session } from './types.js';

/**
 * A login in a browser that held a sign-in of the same user through the same connection (a
 * step-up, signing in again after the session idled out, a second tab) continues its lineage, so
 * a later sign-out still ends the CLI logins approved before it. Another user signing in on the
 * same browser (or the same name through another connection) starts a new one.
 */
export function continuedLineage(prior: PriorLineage | undefined, identity: Identity): { lineage?: string } {
  return prior && prior.user === identity.user && prior.connection === identity.connection ? { lineage: prior.lineage } : {};
}

const VERSION = 'l1.';
const INFO = Buffer.from('gatehouse lineage record v1');

/**
 * A browser session idles out long before its CLI logins do (30 minutes against 8 hours by
 * default), and with it goes the only place its lineage was written. So each browser sign-in also
 * leaves a small record, until the session's absolute end, of its lineage and user: sealed under
 * a key derived from the cookie's own key (the store alone can neither read nor plant one) and
 * filed under the session id. Signing out with an idled-out cookie still ends the CLI logins it
 * approved, and signing in again in that browser continues the lineage. Losing a record (a memory
 * store pushing out its oldest under a login flood) only makes that sign-out end fewer logins.
 */
export class LineageRecords {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
  ) {}

  /** Files the record of a browser session just made (`token` is its cookie). */
  async keep(token: string, session: Session): Promise<void> {
    const parts = parseToken(token);
    if (!parts || !session.lineage || session.client) return;
    const facts: PriorLineage = { lineage: session.lineage, user: session.identity.user, connection: session.identity.connection };
    const ttl = session.expiresAt - this.clock.now();
    if (ttl > 0) await this.store.put(keyOf(parts), sealText(VERSION, keyFor(parts), parts.id, JSON.stringify(facts)), ttl);
  }

  /** The record a cookie's session left, also once that session has idled out; undefined when none opens. */
  async read(token: string | undefined): Promise<PriorLineage | undefined> {
    const parts = token ? parseToken(token) : undefined;
    if (!parts) return undefined;
    const sealed = await this.store.get(keyOf(parts));
    const text = sealed === undefined ? undefined : openText(VERSION, keyFor(parts), parts.id, sealed);
    if (text === undefined) return undefined;
    const f = JSON.parse(text) as Partial<PriorLineage>;
    return typeof f.lineage === 'string' && typeof f.user === 'string' && typeof f.connection === 'string' ? { lineage: f.lineage, user: f.user, connection: f.connection } : undefined;
  }

  /** Drops a cookie's record (its lineage has been ended). */
  async forget(token: string): Promise<void> {
    const parts = parseToken(token);
    if (parts) await this.store.delete(keyOf(parts));
  }
}

function keyOf(parts: TokenParts): string {
  return `lineage:${parts.id}`;
}

function keyFor(parts: TokenParts): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(parts.key, 'utf8'), Buffer.alloc(0), INFO, 32));
}
