import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

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
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, iv);
    cipher.setAAD(Buffer.from(id, 'utf8'));
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
  }

  /** The text, or undefined when no secret opens it (wrong secret, other id, one bit changed). */
  open(id: string, sealed: string): string | undefined {
    if (!sealed.startsWith(VERSION)) return undefined;
    const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
    if (raw.length < 12 + 16) return undefined;
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
        decipher.setAAD(Buffer.from(id, 'utf8'));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
      } catch {
        // next secret
      }
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
