import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { openText, sealText } from './aead.js';
import type { Session, SessionMeta } from './types.js';

/**
 * The cryptography of sessions, in one place.
 *
 * - The cookie carries `<id>.<key>`: a 128-bit session id (the store key, shown to admins) and a
 *   256-bit key the store never sees.
 * - The session is sealed with AES-256-GCM under HKDF(key, salt = session secret); the id is the
 *   additional data. A store dump alone reveals no identity and grants no access (no key), and
 *   someone who can write to the store cannot plant a session either (no secret).
 * - A small summary for administrators (who, since when) is sealed under a key derived from the
 *   secret alone, so `gatehouse sessions list` can read it and a dump still cannot.
 * - The per-user index is keyed by HMAC(secret, email), so a dump cannot be searched by email;
 *   the Single Logout index by HMAC(secret, connection + IdP + NameID [+ SessionIndex]).
 * Rotation: new seals use the first secret; every secret in the list still opens (newest first).
 */
const VERSION = 'v1.';
const SEAL_INFO = Buffer.from('gatehouse session seal v1');
const META_INFO = Buffer.from('gatehouse session meta v1');
/**
 * Canonical base64url only: the last character of 16 bytes (22 chars) leaves 4 bits unused and
 * of 32 bytes (43 chars) 2 bits, which must be zero. Otherwise several cookie strings would
 * open one session, and the cache (keyed by the string) could keep a revoked copy alive.
 */
const TOKEN = /^([A-Za-z0-9_-]{21}[AQgw])\.([A-Za-z0-9_-]{42}[AEIMQUYcgkosw048])$/;
const ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
/** Separates the admin summary from the sealed session in a stored value (never in either). */
const SEP = '~';

/** Whose sessions a Single Logout ends: one connection's IdP, one NameID, optionally one SessionIndex. */
export interface SamlSubject {
  connection: string;
  issuer: string;
  nameId: string;
  sessionIndex?: string;
}

/**
 * What a CSRF token may approve: each form has its own, so the logout token (also handed to
 * scripts as JSON) can never approve a CLI login.
 */
export type CsrfPurpose = 'logout' | 'cli-approve';

/** A cookie token split into its parts. */
export interface TokenParts {
  id: string;
  key: string;
}

/** True when `id` has the shape of a session id (admin input is checked before any lookup). */
export function isSessionId(id: string): boolean {
  return ID.test(id);
}

/** A fresh cookie token: new random id and key every login (no fixation). */
export function newToken(): TokenParts & { token: string } {
  const id = randomBytes(16).toString('base64url');
  const key = randomBytes(32).toString('base64url');
  return { id, key, token: joinToken({ id, key }) };
}

/** A new browser sign-in lineage id (Session.lineage): 128 random bits. */
export function newLineage(): string {
  return randomBytes(16).toString('base64url');
}

/** Splits a cookie token; undefined when it is not one of ours. */
export function parseToken(token: string): TokenParts | undefined {
  const m = TOKEN.exec(token);
  return m ? { id: m[1]!, key: m[2]! } : undefined;
}

/** The cookie token of these parts: the inverse of parseToken. */
export function joinToken(parts: TokenParts): string {
  return `${parts.id}.${parts.key}`;
}

/** Derived session keys remembered (cleared wholesale when full): spares an HKDF per request. */
const DERIVED_CACHE_SIZE = 20_000;

/** The keys derived from the session secret(s), made once at startup. */
export class SessionKeys {
  private readonly secrets: Buffer[];
  private readonly metaKeys: Buffer[];
  /** `<secret index>:<cookie key>` -> derived AES key. */
  private readonly derived = new Map<string, Buffer>();

  /** @param secrets current secret first, then those being rotated out */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('SessionKeys needs a secret');
    this.secrets = secrets.map((s) => Buffer.from(s, 'utf8'));
    this.metaKeys = this.secrets.map((s) => Buffer.from(hkdfSync('sha256', s, Buffer.alloc(0), META_INFO, 32)));
  }

  /** Seals a session for its id, readable only with the cookie key (and the secret). */
  seal(session: Session, parts: TokenParts): string {
    return encrypt(this.sessionKey(parts.key, 0), parts.id, JSON.stringify(session));
  }

  /** Opens a sealed session; undefined when the key, the secret, the id or one bit is wrong. */
  open(sealed: string, parts: TokenParts): Session | undefined {
    for (let i = 0; i < this.secrets.length; i++) {
      const text = decrypt(this.sessionKey(parts.key, i), parts.id, sealed);
      if (text !== undefined) return JSON.parse(text) as Session;
    }
    return undefined;
  }

  /** The value a session is stored as: its summary for administrators, then the session itself. */
  sealStored(meta: SessionMeta, session: Session, parts: TokenParts): string {
    return this.sealMeta(meta, parts.id) + SEP + this.seal(session, parts);
  }

  /** The session in a stored value (needs the cookie key), or undefined. */
  openStored(value: string, parts: TokenParts): Session | undefined {
    return this.open(value.slice(value.indexOf(SEP) + 1), parts);
  }

  /** The summary in a stored value (the secret alone opens it), or undefined. */
  openStoredMeta(value: string, id: string): SessionMeta | undefined {
    return this.openMeta(value.slice(0, value.indexOf(SEP)), id);
  }

  sealMeta(meta: SessionMeta, id: string): string {
    return encrypt(this.metaKeys[0]!, id, JSON.stringify(meta));
  }

  openMeta(sealed: string, id: string): SessionMeta | undefined {
    for (const key of this.metaKeys) {
      const text = decrypt(key, id, sealed);
      if (text !== undefined) return JSON.parse(text) as SessionMeta;
    }
    return undefined;
  }

  /** Index keys of one user name or email under every secret (lookups must find older sessions too). */
  userKeys(nameOrEmail: string): string[] {
    return this.secrets.map((s) => this.userKeyWith(s, nameOrEmail));
  }

  /**
   * Index keys a new session is filed under, current secret only: its email and user name, and
   * for Single Logout its IdP's NameID, alone and with the login's SessionIndex.
   */
  indexKeysOf(session: Session): string[] {
    const names = new Set([session.identity.user, session.identity.email].filter((n): n is string => !!n).map((n) => n.toLowerCase()));
    const keys = [...names].map((n) => this.userKeyWith(this.secrets[0]!, n));
    const { saml } = session;
    if (saml.issuer && saml.nameId) {
      const subject = { connection: session.identity.connection, issuer: saml.issuer, nameId: saml.nameId };
      keys.push(this.subjectKeyWith(this.secrets[0]!, subject));
      if (saml.sessionIndex) keys.push(this.subjectKeyWith(this.secrets[0]!, { ...subject, sessionIndex: saml.sessionIndex }));
    }
    if (session.lineage) keys.push(this.lineageKeyWith(this.secrets[0]!, session.lineage));
    return keys;
  }

  /** Index keys of one browser sign-in lineage (Session.lineage), under every secret. */
  lineageKeys(lineage: string): string[] {
    return this.secrets.map((s) => this.lineageKeyWith(s, lineage));
  }

  private lineageKeyWith(secret: Buffer, lineage: string): string {
    return createHmac('sha256', secret).update(`lineage:${lineage}`).digest('base64url');
  }

  /**
   * Index keys of the sessions one IdP's NameID (and SessionIndex, when given) opened through one
   * connection, under every secret. NameIDs are compared exactly (SAML core 8.3: case matters).
   */
  subjectKeys(subject: SamlSubject): string[] {
    return this.secrets.map((s) => this.subjectKeyWith(s, subject));
  }

  private subjectKeyWith(secret: Buffer, s: SamlSubject): string {
    const parts = ['slo', s.connection, s.issuer, s.nameId, ...(s.sessionIndex === undefined ? [] : [s.sessionIndex])];
    // Lengths first, so no choice of values can make two different subjects collide.
    return createHmac('sha256', secret).update(parts.map((p) => `${Buffer.byteLength(p)}:${p}`).join('|')).digest('base64url');
  }

  /** A value bound to this session for CSRF tokens on Gatehouse's own forms. */
  csrfToken(token: string, purpose: CsrfPurpose): string {
    return csrfWith(this.secrets[0]!, token, purpose);
  }

  /** Checks a CSRF token against every secret, in constant time per comparison. */
  csrfValid(token: string, given: string, purpose: CsrfPurpose): boolean {
    const got = Buffer.from(given);
    return this.secrets.some((s) => {
      const want = Buffer.from(csrfWith(s, token, purpose));
      return want.length === got.length && timingSafeEqual(want, got);
    });
  }

  private userKeyWith(secret: Buffer, nameOrEmail: string): string {
    return createHmac('sha256', secret).update(`user:${nameOrEmail.toLowerCase()}`).digest('base64url');
  }

  private sessionKey(key: string, secretIndex: number): Buffer {
    const name = `${secretIndex}:${key}`;
    let derived = this.derived.get(name);
    if (derived === undefined) {
      derived = Buffer.from(hkdfSync('sha256', Buffer.from(key, 'base64url'), this.secrets[secretIndex]!, SEAL_INFO, 32));
      if (this.derived.size >= DERIVED_CACHE_SIZE) this.derived.clear();
      this.derived.set(name, derived);
    }
    return derived;
  }
}

function csrfWith(secret: Buffer, token: string, purpose: CsrfPurpose): string {
  return createHmac('sha256', secret).update(`csrf:${purpose}:${token}`).digest('base64url');
}

/** `v1.` + base64url(iv[12] | ciphertext | tag[16]), AES-256-GCM with `aad` as additional data. */
function encrypt(key: Buffer, aad: string, text: string): string {
  return sealText(VERSION, key, aad, text);
}

function decrypt(key: Buffer, aad: string, sealed: string): string | undefined {
  return openText(VERSION, key, aad, sealed);
}
