import { hkdfSync } from 'node:crypto';
import { openText, sealText } from '../session/aead.js';
import { joinToken, parseToken, type TokenParts } from '../session/session-keys.js';
import { TOKEN_PREFIX } from './prefixes.js';

/**
 * CLI access tokens: `gta_` + AES-256-GCM seal of `{ v, sid, key, iat, exp }` (epoch ms) under a
 * key derived from the session secret with its own HKDF info string, so nothing else Gatehouse
 * seals opens as one. The token names the CLI session it belongs to (its id and key, only
 * readable with the secret); whoever checks it opens that session, so logout, revocation, idle
 * and expiry end every access token at once. Rotation: new tokens use the first secret; every
 * secret in the list still opens.
 */
const VERSION = 'v1.';
const INFO = Buffer.from('gatehouse cli access token v1');
/** Additional data: an access token cannot be passed off as any other sealed value, or back. */
const AAD = 'gha';

/** What an access token carries. */
export interface AccessClaims {
  v: 1;
  /** The CLI session's id and key (`<sid>.<key>` is its refresh token without the prefix). */
  sid: string;
  key: string;
  /** Issued at and expiry, epoch ms. */
  iat: number;
  exp: number;
}

/** How many opened tokens are remembered (a few MB at most). */
const OPENED_CACHE_ENTRIES = 10_000;

/**
 * Seals and opens access tokens; made once at startup from the session secrets. A CLI sends the
 * same token with every request for its lifetime, so the claims of tokens that opened are
 * remembered by their exact text (bounded, oldest first out): a repeat costs a map lookup instead
 * of an AES-GCM open and a JSON parse. Only tokens that opened under our secrets are remembered,
 * so garbage cannot fill it, and it holds nothing a check needs fresh: expiry and the session are
 * checked at every use by the caller.
 */
export class AccessTokens {
  private readonly keys: Buffer[];
  private readonly opened = new Map<string, AccessClaims>();

  /** @param secrets current secret first, then those being rotated out */
  constructor(
    secrets: readonly string[],
    private readonly cacheEntries = OPENED_CACHE_ENTRIES,
  ) {
    if (secrets.length === 0) throw new Error('AccessTokens needs a secret');
    this.keys = secrets.map((s) => Buffer.from(hkdfSync('sha256', Buffer.from(s, 'utf8'), Buffer.alloc(0), INFO, 32)));
  }

  /** A new access token for the CLI session `parts`, valid from `iat` until `exp` (epoch ms). */
  seal(parts: TokenParts, iat: number, exp: number): string {
    const claims: AccessClaims = { v: 1, sid: parts.id, key: parts.key, iat, exp };
    return TOKEN_PREFIX.access + sealText(VERSION, this.keys[0]!, AAD, JSON.stringify(claims));
  }

  /**
   * The claims of a well-formed, untampered token sealed under one of our secrets, or undefined.
   * Expiry is the caller's to check (it holds the clock).
   */
  open(token: string): AccessClaims | undefined {
    const known = this.opened.get(token);
    if (known) return known;
    if (!token.startsWith(TOKEN_PREFIX.access) || token.length > 1024) return undefined;
    const sealed = token.slice(TOKEN_PREFIX.access.length);
    // One spelling per token: base64url decoding skips stray characters, so without this one
    // token would open under endless variants (each its own entry in the cache below).
    if (!canonical(sealed)) return undefined;
    for (const key of this.keys) {
      const text = openText(VERSION, key, AAD, sealed);
      if (text === undefined) continue;
      const claims = claimsOf(text);
      if (claims) this.remember(token, claims);
      return claims;
    }
    return undefined;
  }

  private remember(token: string, claims: AccessClaims): void {
    if (this.cacheEntries <= 0) return;
    if (this.opened.size >= this.cacheEntries) this.opened.delete(this.opened.keys().next().value!);
    this.opened.set(token, Object.freeze(claims));
  }
}

const SEALED = /^v1\.[A-Za-z0-9_-]+$/;

function canonical(sealed: string): boolean {
  if (!SEALED.test(sealed)) return false;
  const body = sealed.slice(VERSION.length);
  return Buffer.from(body, 'base64url').toString('base64url') === body;
}

function claimsOf(text: string): AccessClaims | undefined {
  let c: Partial<AccessClaims>;
  try {
    c = JSON.parse(text) as Partial<AccessClaims>;
  } catch {
    return undefined;
  }
  if (c.v !== 1 || typeof c.sid !== 'string' || typeof c.key !== 'string' || typeof c.iat !== 'number' || typeof c.exp !== 'number') return undefined;
  if (!parseToken(joinToken({ id: c.sid, key: c.key }))) return undefined;
  return { v: 1, sid: c.sid, key: c.key, iat: c.iat, exp: c.exp };
}
