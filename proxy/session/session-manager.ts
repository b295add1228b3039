import type { Clock } from '../clock.js';
import { isGatehouseError } from '../errors.js';
import type { Identity } from '../policy/types.js';
import { SessionCache, type CachedSession } from './session-cache.js';
import { newLineage, newToken, parseToken, SessionKeys, type CsrfPurpose, type TokenParts } from './session-keys.js';
import type { Session, SessionClient, SessionMeta, SessionStore } from './types.js';

/** Settings the manager needs, from `session:` in the config. */
export interface SessionSettings {
  /** Current secret first, then secrets being rotated out. */
  secrets: readonly string[];
  idleTimeoutMs: number;
  /** The idle timeout of CLI sessions (`tokens.cli_idle_timeout`); default `idleTimeoutMs`. */
  cliIdleTimeoutMs?: number;
  maxLifetimeMs: number;
  /** How long a session read from the store is reused without asking again (0: never). */
  cacheTtlMs: number;
  cacheMaxEntries: number;
  /** While the store is unreachable, cached sessions serve this long after the outage began (0: fail closed). */
  outageGraceMs: number;
}

/** Activity is written back at most this often, so a busy session costs no write per request. */
const TOUCH_EVERY_MS = 60_000;

/**
 * Creates, opens and ends sessions. The cookie carries `<id>.<key>` (see session-keys.ts): the
 * store holds only sealed values, so neither a dump nor a write to the store yields access.
 * Sessions read from the store are cached in-process for `cacheTtlMs`; ends announced by any
 * instance evict them at once, and the cache is not trusted while announcements may be missed.
 */
export class SessionManager {
  readonly keys: SessionKeys;
  private readonly touchEveryMs: number;
  private readonly cache: SessionCache;
  /** When the store started failing (epoch ms), for the outage grace. */
  private outageSince: number | undefined;
  /** One store read per token at a time: concurrent requests of one session share it. */
  private readonly reading = new Map<string, Promise<string | undefined>>();
  /** One activity write per session at a time. */
  private readonly refreshing = new Map<string, Promise<boolean>>();

  constructor(
    readonly store: SessionStore,
    private readonly settings: SessionSettings,
    private readonly clock: Clock,
    /** Told when a request is served from the cache during an outage (for one log line). */
    private readonly onGrace: (id: string) => void = () => {},
  ) {
    this.touchEveryMs = Math.min(TOUCH_EVERY_MS, Math.floor(Math.min(settings.idleTimeoutMs, settings.cliIdleTimeoutMs ?? Infinity) / 2));
    this.keys = new SessionKeys(settings.secrets);
    this.cache = new SessionCache(settings.cacheMaxEntries);
    store.onEnded((ids) => this.cache.evict(ids));
  }

  /**
   * Starts a session (always with a fresh id and key: no fixation) and returns its token (the
   * cookie of a browser; the credential behind a CLI's or a service account's tokens).
   * `lifetimeMs` shortens or sets the absolute lifetime (default `max_lifetime`); `endsBy` caps
   * the absolute end at an instant (read against the same clock reading as the start, so a
   * session derived from another can never outlive it by the time this call takes). A browser
   * session starts a new lineage unless given the one of the session it replaces; a CLI session
   * is given its approving browser session's.
   */
  async create(identity: Identity, saml: Session['saml'], opts: { client?: SessionClient; lifetimeMs?: number; endsBy?: number; lineage?: string } = {}): Promise<{ token: string; session: Session }> {
    const parts = newToken();
    const now = this.clock.now();
    // At least 1 ms: a store TTL of 0 would mean "no expiry" to some stores.
    const expiresAt = Math.max(now + 1, Math.min(now + (opts.lifetimeMs ?? this.settings.maxLifetimeMs), opts.endsBy ?? Infinity));
    const lineage = opts.lineage ?? (opts.client ? undefined : newLineage());
    const session: Session = { identity, createdAt: now, lastSeenAt: now, expiresAt, saml, ...(opts.client ? { client: opts.client } : {}), ...(lineage ? { lineage } : {}) };
    await this.store.create(parts.id, this.valueOf(session, parts), this.ttl(session, now), session.expiresAt, this.keys.indexKeysOf(session));
    this.remember(parts.token, parts, session, now, this.cache.changes);
    return { token: parts.token, session };
  }

  /**
   * The live browser session of a cookie, or undefined. A cookie opens browser sessions only: a
   * CLI or service token's inner `<id>.<key>` pasted into a cookie must not skip the checks its
   * own prefix gets (client kind, account config), nor pass for someone's browser sign-in.
   * @throws GatehouseError SESSION_STORE_UNAVAILABLE when the store cannot be asked (fail closed)
   */
  async openBrowser(token: string | undefined): Promise<Session | undefined> {
    const session = await this.open(token);
    return session && !session.client ? session : undefined;
  }

  /**
   * The live session for a cookie token, or undefined (malformed, unknown, ended, idle, expired).
   * @throws GatehouseError SESSION_STORE_UNAVAILABLE when the store cannot be asked (fail closed)
   */
  async open(token: string | undefined): Promise<Session | undefined> {
    const parts = token ? parseToken(token) : undefined;
    if (!token || !parts) return undefined;
    const now = this.clock.now();
    const hit = this.cache.get(token);
    if (hit && this.trusted(hit, now)) return this.live(token, parts, hit.session, now);
    const changes = this.cache.changes;
    let value: string | undefined;
    try {
      value = await this.read(token, parts.id);
      this.outageSince = undefined;
    } catch (err) {
      const grace = this.duringOutage(err, hit, now);
      if (grace) return grace;
      throw err;
    }
    const session = value === undefined ? undefined : this.keys.openStored(value, parts);
    if (!session) {
      this.cache.delete(token);
      return undefined;
    }
    this.remember(token, parts, session, now, changes);
    return this.live(token, parts, session, now);
  }

  /**
   * Ends the session behind a token on every instance, only when the token opens it: knowing a
   * session id (from a listing or a dump) must not be enough to sign its user out.
   */
  async destroy(token: string | undefined): Promise<void> {
    const parts = token ? parseToken(token) : undefined;
    if (!parts) return;
    const value = await this.store.get(parts.id);
    if (value === undefined || !this.keys.openStored(value, parts)) return;
    await this.store.delete([parts.id]);
    await this.store.announceEnded([parts.id]);
  }

  /** A value bound to this session for CSRF tokens on Gatehouse's own forms. */
  csrfToken(token: string, purpose: CsrfPurpose): string {
    return this.keys.csrfToken(token, purpose);
  }

  /** Checks the live session: lifetimes, and activity written back at most every `touchEveryMs`. */
  private async live(token: string, parts: TokenParts, session: Session, now: number): Promise<Session | undefined> {
    if (now >= session.expiresAt || this.idle(session, now)) {
      this.cache.delete(token);
      await this.store.delete([parts.id]).catch(() => {});
      return undefined;
    }
    if (now - session.lastSeenAt < this.touchEveryMs) return session;
    const touched: Session = { ...session, lastSeenAt: now };
    const changes = this.cache.changes;
    // Refresh only what still exists: a revoked session learns here that it has ended.
    if (!(await this.refresh(parts, touched, now))) {
      this.cache.delete(token);
      return undefined;
    }
    this.remember(token, parts, touched, now, changes);
    return touched;
  }

  /** A request that arrives after an announced end starts its own read (never one begun before it). */
  private read(token: string, id: string): Promise<string | undefined> {
    const name = `${this.cache.changes}:${token}`;
    let pending = this.reading.get(name);
    if (!pending) {
      pending = this.store.get(id).finally(() => this.reading.delete(name));
      this.reading.set(name, pending);
    }
    return pending;
  }

  private refresh(parts: TokenParts, touched: Session, now: number): Promise<boolean> {
    let pending = this.refreshing.get(parts.id);
    if (!pending) {
      pending = this.store.refresh(parts.id, this.valueOf(touched, parts), this.ttl(touched, now)).finally(() => this.refreshing.delete(parts.id));
      this.refreshing.set(parts.id, pending);
    }
    return pending;
  }

  /** A cache entry may answer for the store: fresh, from the current generation, while listening. */
  private trusted(hit: CachedSession, now: number): boolean {
    return hit.generation === this.cache.generation && now - hit.checkedAt < this.settings.cacheTtlMs && this.store.health().listening;
  }

  /** The outage grace: a cached session keeps working for `outageGraceMs` after the store failed. */
  private duringOutage(err: unknown, hit: CachedSession | undefined, now: number): Session | undefined {
    if (!isGatehouseError(err, 'SESSION_STORE_UNAVAILABLE')) return undefined;
    this.outageSince ??= now;
    // Only entries read since announcements last resumed: an older one may have missed a revocation.
    if (!hit || hit.generation !== this.cache.generation || now - this.outageSince >= this.settings.outageGraceMs) return undefined;
    const s = hit.session;
    if (now >= s.expiresAt || this.idle(s, now)) return undefined;
    this.onGrace(hit.id);
    return s;
  }

  /** Idle past its idle timeout (service-account sessions have none: they end at their own end). */
  private idle(s: Session, now: number): boolean {
    return s.client !== 'service' && now - s.lastSeenAt >= this.idleTimeout(s);
  }

  /** `idle_timeout` for browsers, `tokens.cli_idle_timeout` for CLI sessions. */
  private idleTimeout(s: Session): number {
    return s.client === 'cli' ? (this.settings.cliIdleTimeoutMs ?? this.settings.idleTimeoutMs) : this.settings.idleTimeoutMs;
  }

  private remember(token: string, parts: TokenParts, session: Session, now: number, changesBefore: number): void {
    // A read that raced an announced end may carry the ended session: serve it this once, never cache it.
    if (this.settings.cacheTtlMs <= 0 || changesBefore !== this.cache.changes || !this.store.health().listening) return;
    this.cache.set(token, { id: parts.id, session, checkedAt: now, generation: this.cache.generation });
  }

  private valueOf(session: Session, parts: TokenParts): string {
    const { identity } = session;
    const meta: SessionMeta = { user: identity.user, connection: identity.connection, ...(session.client ? { client: session.client } : {}), ...(session.lineage ? { lineage: session.lineage } : {}), createdAt: session.createdAt, lastSeenAt: session.lastSeenAt, expiresAt: session.expiresAt, ...(identity.email ? { email: identity.email } : {}) };
    return this.keys.sealStored(meta, session, parts);
  }

  private ttl(s: Session, now: number): number {
    return Math.max(1, s.client === 'service' ? s.expiresAt - now : Math.min(this.idleTimeout(s), s.expiresAt - now));
  }
}
