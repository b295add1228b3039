import type { Identity } from '../policy/types.js';

/** A signed-in session. Plain data: stores keep it sealed (see session-keys.ts). */
export interface Session {
  identity: Identity;
  /** Epoch ms. */
  createdAt: number;
  lastSeenAt: number;
  /** Absolute end (createdAt + max_lifetime), whatever the activity. */
  expiresAt: number;
  /**
   * Who holds the credential: absent for a browser (the cookie); `cli` for a session made by
   * `gatehouse login` (its access tokens open it); `service` for a service-account token (no idle
   * timeout: it lives until its own end or its revocation).
   */
  client?: SessionClient;
  /**
   * The browser sign-in this session belongs to: a random id given at a browser login, kept by a
   * login that replaces it in the same browser (a step-up) and by the CLI sessions it approves.
   * Signing out in the browser ends the whole lineage (docs/cli-tokens.md). Absent for service
   * accounts.
   */
  lineage?: string;
  /**
   * What the IdP said about the login, kept for logout, audits and step-up: the signed
   * assertion's AuthnContextClassRef and AuthnInstant (epoch ms), when it carried them.
   */
  saml: { nameId: string; nameIdFormat?: string; nameQualifier?: string; spNameQualifier?: string; sessionIndex?: string; issuer?: string; authnContextClassRef?: string; authnInstant?: number };
}

/** Which browser sign-in (Session.lineage) a cookie belonged to, and whose it was. */
export interface PriorLineage {
  lineage: string;
  user: string;
  connection: string;
}

/** The kinds of non-browser sessions (see Session.client). */
export type SessionClient = 'cli' | 'service';

/** What administrators see of a session (sealed under the secret, never under the cookie key). */
export interface SessionMeta {
  user: string;
  email?: string;
  connection: string;
  /** Absent for a browser session. */
  client?: SessionClient;
  /** See Session.lineage: read to carry it into the session that replaces this one. */
  lineage?: string;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
}

/** How a store is doing, for readiness and logs. */
export interface StoreHealth {
  kind: 'memory' | 'redis';
  /** `ready`, or `down` while commands fail (reconnecting in the background). */
  status: 'ready' | 'down';
  /** Epoch ms of the last change of status. */
  since: number;
  /** True while revocations announced by other instances are known to reach this one. */
  listening: boolean;
  lastError?: string;
}

/** Told when sessions end elsewhere: the ids, or `all` when announcements may have been missed. */
export type EndedListener = (ids: readonly string[] | 'all') => void;

/**
 * Where sessions live. Values are opaque sealed strings; keys are session ids (never a cookie).
 * Index keys (HMAC of an email, or of a connection's IdP and NameID for Single Logout) list a user's sessions, each scored by its absolute end. One
 * contract test suite runs against every implementation.
 */
export interface SessionStore {
  readonly kind: StoreHealth['kind'];
  /** Stores a new session, filed under each index key and the index of all sessions. */
  create(id: string, value: string, ttlMs: number, expiresAt: number, indexKeys: readonly string[]): Promise<void>;
  get(id: string): Promise<string | undefined>;
  /** Replaces the value and expiry only if the session still exists: an ended session never comes back. */
  refresh(id: string, value: string, ttlMs: number): Promise<boolean>;
  /** Ends sessions (unknown ids are ignored). */
  delete(ids: readonly string[]): Promise<void>;
  /**
   * Ids filed under an index key (or every session for `undefined`), at most `limit` from
   * `offset`, in a stable order (by absolute end); entries past their end are pruned.
   */
  indexed(indexKey: string | undefined, limit: number, offset?: number): Promise<string[]>;
  getMany(ids: readonly string[]): Promise<(string | undefined)[]>;
  /** Tells every instance (this one included) that these sessions ended. */
  announceEnded(ids: readonly string[]): Promise<void>;
  onEnded(listener: EndedListener): void;
  health(): StoreHealth;
  close(): Promise<void>;
}
