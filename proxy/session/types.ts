import type { Identity } from '../policy/types.js';

/** A signed-in session. Plain data: the store may serialize it. */
export interface Session {
  identity: Identity;
  /** Epoch ms. */
  createdAt: number;
  lastSeenAt: number;
  /** Absolute end (createdAt + max_lifetime), whatever the activity. */
  expiresAt: number;
  /** What the IdP said about the login, kept for logout and audits. */
  saml: { nameId: string; nameIdFormat?: string; sessionIndex?: string; issuer?: string };
}

/**
 * Where sessions live. Keys are already derived from the cookie (never the cookie itself), so a
 * dump of the store cannot be replayed as cookies. One contract test suite runs against every
 * implementation.
 */
export interface SessionStore {
  get(key: string): Promise<Session | undefined>;
  /** Creates or replaces; the store forgets the session after `ttlMs`. */
  set(key: string, session: Session, ttlMs: number): Promise<void>;
  /** Records activity and moves the expiry. */
  touch(key: string, lastSeenAt: number, ttlMs: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
