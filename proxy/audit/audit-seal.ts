import { createHmac, hkdfSync } from 'node:crypto';
import { openText, sealText } from '../session/aead.js';

const VERSION = 'a1.';
const INFO = Buffer.from('gatehouse saml audit seal v1');

/**
 * The cryptography of the SAML audit trail. Raw XML and claims are personal data, so each entry
 * is sealed with AES-256-GCM under a key derived (HKDF-SHA-256) from the session secret, with the
 * entry id as additional data (an entry cannot be moved under another id). The per-email index is
 * keyed by HMAC(secret, lower-cased email), as sessions' user index is (session-keys.ts): a store
 * dump holds neither emails nor XML and cannot be searched by email without the secret.
 * Rotation: new seals use the first secret; every listed secret still opens (newest first).
 */
export class AuditSeal {
  private readonly secrets: Buffer[];
  private readonly keys: Buffer[];

  /** @param secrets current secret first, then those being rotated out */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('AuditSeal needs a secret');
    this.secrets = secrets.map((s) => Buffer.from(s, 'utf8'));
    this.keys = this.secrets.map((s) => Buffer.from(hkdfSync('sha256', s, Buffer.alloc(0), INFO, 32)));
  }

  seal(id: string, text: string): string {
    return sealText(VERSION, this.keys[0]!, id, text);
  }

  /** The text, or undefined when no secret opens it (wrong secret, other id, one bit changed). */
  open(id: string, sealed: string): string | undefined {
    for (const key of this.keys) {
      const text = openText(VERSION, key, id, sealed);
      if (text !== undefined) return text;
    }
    return undefined;
  }

  /** The index key an entry is filed under (current secret). */
  emailKey(email: string): string {
    return this.emailKeyWith(this.secrets[0]!, email);
  }

  /** Index keys of an email under every secret (a lookup must find entries sealed before a rotation). */
  emailKeys(email: string): string[] {
    return [...new Set(this.secrets.map((s) => this.emailKeyWith(s, email)))];
  }

  private emailKeyWith(secret: Buffer, email: string): string {
    // Same construction as the session user index (session-keys.ts userKeys).
    return createHmac('sha256', secret).update(`user:${email.trim().toLowerCase()}`).digest('base64url');
  }
}
