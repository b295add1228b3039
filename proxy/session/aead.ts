import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM with additional data bound in, as one string: `version` + base64url(iv | ciphertext
 * | tag). Sessions (session-keys.ts) and the SAML audit trail (audit-seal.ts) seal with it, each
 * under its own version prefix and derived keys.
 */
export function sealText(version: string, key: Buffer, aad: string, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return version + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The text, or undefined when this key and additional data do not open it (or it is not ours). */
export function openText(version: string, key: Buffer, aad: string, sealed: string): string | undefined {
  if (!sealed.startsWith(version)) return undefined;
  const raw = Buffer.from(sealed.slice(version.length), 'base64url');
  if (raw.length < 12 + 16) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}
