import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Identity } from '../policy/types.js';
import type { Session, SessionStore } from './types.js';

/** Settings the manager needs, from `session:` in the config. */
export interface SessionSettings {
  secret: string;
  idleTimeoutMs: number;
  maxLifetimeMs: number;
}

/** Activity is written back at most this often, so a busy session costs no write per request. */
const TOUCH_EVERY_MS = 60_000;
const TOKEN = /^[A-Za-z0-9_-]{43}$/;
/** Tokens whose store key is remembered; cleared wholesale when full (cheap, bounded). */
const KEY_CACHE_SIZE = 50_000;

/**
 * Creates, opens and ends sessions. The cookie carries a random 256-bit token; the store key is
 * HMAC(secret, token), so neither a store dump nor a guessed key yields a working cookie, and
 * rotating the secret ends every session.
 */
export class SessionManager {
  /** Activity granularity: at most a minute, and fine enough for short idle timeouts. */
  private readonly touchEveryMs: number;
  private readonly key: KeyObject;
  /** token -> store key, bounded: spares an HMAC per request for active sessions. */
  private readonly keys = new Map<string, string>();

  constructor(
    private readonly store: SessionStore,
    private readonly settings: SessionSettings,
    private readonly clock: Clock,
  ) {
    this.touchEveryMs = Math.min(TOUCH_EVERY_MS, Math.floor(settings.idleTimeoutMs / 2));
    this.key = createSecretKey(Buffer.from(settings.secret, 'utf8'));
  }

  /** Starts a session (always with a fresh token: no fixation) and returns its cookie token. */
  async create(identity: Identity, saml: Session['saml']): Promise<{ token: string; session: Session }> {
    const token = randomBytes(32).toString('base64url');
    const now = this.clock.now();
    const session: Session = { identity, createdAt: now, lastSeenAt: now, expiresAt: now + this.settings.maxLifetimeMs, saml };
    await this.store.set(this.keyOf(token), session, this.ttl(session, now));
    return { token, session };
  }

  /** The live session for a cookie token, or undefined (malformed, unknown, idle or expired). */
  async open(token: string | undefined): Promise<Session | undefined> {
    if (!token || !TOKEN.test(token)) return undefined;
    const key = this.keyOf(token);
    const session = await this.store.get(key);
    if (!session) return undefined;
    const now = this.clock.now();
    if (now >= session.expiresAt || now - session.lastSeenAt >= this.settings.idleTimeoutMs) {
      await this.store.delete(key);
      return undefined;
    }
    if (now - session.lastSeenAt >= this.touchEveryMs) await this.store.touch(key, now, this.ttl(session, now));
    return session;
  }

  /** Ends the session behind a token, if any. */
  async destroy(token: string | undefined): Promise<void> {
    if (token && TOKEN.test(token)) await this.store.delete(this.keyOf(token));
  }

  /** A value bound to this session for CSRF tokens on Gatehouse's own forms. */
  csrfToken(token: string): string {
    return createHmac('sha256', this.key).update(`csrf:${token}`).digest('base64url');
  }

  private keyOf(token: string): string {
    let key = this.keys.get(token);
    if (key === undefined) {
      key = createHmac('sha256', this.key).update(`session:${token}`).digest('base64url');
      if (this.keys.size >= KEY_CACHE_SIZE) this.keys.clear();
      this.keys.set(token, key);
    }
    return key;
  }

  private ttl(s: Session, now: number): number {
    return Math.max(1, Math.min(this.settings.idleTimeoutMs, s.expiresAt - now));
  }
}
