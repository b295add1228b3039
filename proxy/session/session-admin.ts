import type { Clock } from '../clock.js';
import type { SamlSubject, SessionKeys } from './session-keys.js';
import { isSessionId } from './session-keys.js';
import type { StateStore } from '../store/state-store.js';
import type { SessionMeta, SessionStore } from './types.js';

/** One session as administrators see it. */
export interface SessionSummary extends SessionMeta {
  id: string;
}

/** A session as the admin API and `gatehouse sessions list` show it (JSON names, ISO times). */
export interface PublicSession {
  id: string;
  user: string;
  email: string | null;
  connection: string;
  /** Who holds it: `browser`, `cli` (gatehouse login) or `service` (a service-account token). */
  client: 'browser' | 'cli' | 'service';
  created_at: string;
  last_seen_at: string;
  expires_at: string;
}

/** The public shape of a session summary (no key, nothing sealed). */
export function publicSession(s: SessionSummary): PublicSession {
  const iso = (ms: number) => new Date(ms).toISOString();
  return { id: s.id, user: s.user, email: s.email ?? null, connection: s.connection, client: s.client ?? 'browser', created_at: iso(s.createdAt), last_seen_at: iso(s.lastSeenAt), expires_at: iso(s.expiresAt) };
}

/** Most sessions one listing shows (more are reported as truncated), and the page size of a revocation. */
export const ADMIN_LIMIT = 10_000;
/** How many index entries a count of a lineage's CLI sessions reads (ended ones stay until their end). */
const LINEAGE_COUNT_PAGE = 1_000;
/** A revocation by user pages through at most this many index entries. */
const MAX_REVOKE = 1_000_000;

/** What a revocation did. */
export interface Revoked {
  revoked: string[];
}

/**
 * Session administration over any store: list (everyone, or one user through the index) and
 * revoke by id or by user. Revocations are announced, so every instance drops them at once.
 * The CLI, the admin API and the SCIM endpoint all come through here.
 */
export class SessionAdmin {
  constructor(
    private readonly store: SessionStore,
    private readonly keys: SessionKeys,
    private readonly clock: Clock,
  ) {}

  /** Live sessions, newest first; of one user (email or user name, any case) when given. */
  async list(user?: string): Promise<{ sessions: SessionSummary[]; truncated: boolean }> {
    const ids = await this.idsOf(user);
    const values = await this.store.getMany(ids);
    const now = this.clock.now();
    const sessions: SessionSummary[] = [];
    values.forEach((value, i) => {
      const id = ids[i]!;
      const meta = value === undefined ? undefined : this.keys.openStoredMeta(value, id);
      if (meta && meta.expiresAt > now) sessions.push({ id, ...meta });
    });
    sessions.sort((a, b) => b.createdAt - a.createdAt);
    return { sessions, truncated: ids.length >= ADMIN_LIMIT };
  }

  /**
   * The summary of one stored session by id (as `list` shows it), undefined when unknown or
   * malformed. Its end is the caller's to check, as `list` does.
   */
  async meta(id: string): Promise<SessionMeta | undefined> {
    if (!isSessionId(id)) return undefined;
    const [value] = await this.store.getMany([id]);
    return value === undefined ? undefined : this.keys.openStoredMeta(value, id);
  }

  /** Ends one session by id (as `list` shows it). Unknown or malformed ids revoke nothing. */
  async revokeId(id: string): Promise<Revoked> {
    if (!isSessionId(id)) return { revoked: [] };
    const [value] = await this.store.getMany([id]);
    if (value === undefined) return { revoked: [] };
    return this.end([id]);
  }

  /**
   * A browser signed in again (another connection, a step-up): the session `old` it held ends, on
   * every instance, instead of lingering behind a replaced cookie. Two logins started from the
   * same session (two tabs, a double click) both name it: the one finishing second also ends the
   * session the first made in its place (remembered in `memo` for `ttlMs`, the login timeout), so
   * only the session whose cookie the browser keeps survives.
   */
  async endReplaced(old: string, made: string, memo: StateStore, ttlMs: number): Promise<void> {
    const key = `replaced:${old}`;
    const earlier = await memo.get(key);
    await this.revokeId(old);
    if (earlier && earlier !== made) await this.revokeId(earlier);
    await memo.put(key, made, ttlMs);
  }

  /** Ends every session of a user (email or user name, any case), however many, page by page. */
  async revokeUser(user: string): Promise<Revoked> {
    return this.revokeIndexed(this.keys.userKeys(user.trim()));
  }

  /**
   * Ends the sessions an IdP's LogoutRequest names (Single Logout): every session of the NameID
   * through that connection, or only those of the given SessionIndex. A lookup in the index
   * filed at login, not a scan.
   */
  async revokeSamlSubject(subject: SamlSubject): Promise<Revoked> {
    return this.revokeIndexed(this.keys.subjectKeys(subject));
  }

  /**
   * Ends a browser sign-in and everything it approved (Session.lineage): the browser session,
   * the sessions it replaced, and the CLI sessions made from it, but not `except` (the caller
   * ends that one itself). `cli` counts the CLI sessions.
   */
  async revokeLineage(lineage: string, except?: string): Promise<Revoked & { cli: number }> {
    let cli = 0;
    const { revoked } = await this.revokeIndexed(this.keys.lineageKeys(lineage), (id, value) => {
      if (id === except) return false;
      if (this.keys.openStoredMeta(value, id)?.client === 'cli') cli++;
      return true;
    });
    return { revoked, cli };
  }

  /**
   * How many live CLI sessions a browser sign-in has approved, counted up to `atMost` (enough to
   * enforce a cap: the index is read one bounded page per secret, not paged through).
   */
  async countLineageCli(lineage: string, atMost: number): Promise<number> {
    let cli = 0;
    for (const key of this.keys.lineageKeys(lineage)) {
      const ids = await this.store.indexed(key, LINEAGE_COUNT_PAGE);
      const values = await this.store.getMany(ids);
      for (const [i, id] of ids.entries()) {
        const value = values[i];
        if (value !== undefined && this.keys.openStoredMeta(value, id)?.client === 'cli' && ++cli >= atMost) return cli;
      }
    }
    return cli;
  }

  /** Ends every live session filed under these index keys that `pick` (when given) agrees to. */
  private async revokeIndexed(indexKeys: readonly string[], pick?: (id: string, value: string) => boolean): Promise<Revoked> {
    const revoked: string[] = [];
    for (const key of indexKeys) {
      // Ended sessions stay in the index until they pass their end, so page through it all.
      for (let offset = 0; offset < MAX_REVOKE; offset += ADMIN_LIMIT) {
        const ids = await this.store.indexed(key, ADMIN_LIMIT, offset);
        const values = await this.store.getMany(ids);
        const ending: string[] = [];
        for (const [i, id] of ids.entries()) {
          const value = values[i];
          if (value !== undefined && (pick?.(id, value) ?? true)) ending.push(id);
        }
        revoked.push(...(await this.end(ending)).revoked);
        if (ids.length < ADMIN_LIMIT) break;
      }
    }
    return { revoked };
  }

  private async idsOf(user: string | undefined): Promise<string[]> {
    if (user === undefined) return this.store.indexed(undefined, ADMIN_LIMIT);
    const lists = await Promise.all(this.keys.userKeys(user.trim()).map((k) => this.store.indexed(k, ADMIN_LIMIT)));
    return [...new Set(lists.flat())];
  }

  private async end(ids: string[]): Promise<Revoked> {
    if (ids.length === 0) return { revoked: [] };
    await this.store.delete(ids);
    await this.store.announceEnded(ids);
    return { revoked: ids };
  }
}
