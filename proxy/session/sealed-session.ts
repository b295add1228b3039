import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Session } from './types.js';

/**
 * The session as a shared store (Redis) keeps it: AES-256-GCM under a key derived from the
 * cookie token alone, which the store never sees (it keys entries by HMAC(secret, token)). A
 * store dump therefore reveals no identity and grants no access; the store key is the
 * additional data, so a sealed value moved to another key does not open.
 * Format: `v1.` + base64url(iv[12] | ciphertext | tag[16]).
 */
const VERSION = 'v1.';
const INFO = Buffer.from('gatehouse session seal v1');

function keyOf(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(token, 'utf8'), Buffer.alloc(0), INFO, 32));
}

/** Seals a session for `storeKey`, readable only with the cookie token. */
export function sealSession(session: Session, token: string, storeKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(token), iv);
  cipher.setAAD(Buffer.from(storeKey, 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(session), 'utf8'), cipher.final()]);
  return VERSION + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Opens a sealed session; undefined when the token, the key or a single bit is wrong. */
export function openSealedSession(sealed: string, token: string, storeKey: string): Session | undefined {
  if (!sealed.startsWith(VERSION)) return undefined;
  const raw = Buffer.from(sealed.slice(VERSION.length), 'base64url');
  if (raw.length < 12 + 16 + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(token), raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(storeKey, 'utf8'));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
    return JSON.parse(text) as Session;
  } catch {
    return undefined;
  }
}
