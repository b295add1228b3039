import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A PKCE pair (RFC 7636): the verifier stays on this computer, the challenge goes to the browser. */
export interface Pkce {
  verifier: string;
  challenge: string;
  method: 'S256';
}

/**
 * A fresh verifier of 32 random bytes (43 base64url characters, RFC 7636 4.1) and its S256
 * challenge. "plain" is never used: the challenge travels through the browser's address bar.
 */
export function createPkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: s256(verifier), method: 'S256' };
}

/** BASE64URL(SHA256(ASCII(verifier))) (RFC 7636 4.2). */
export function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** An unguessable `state` binding the loopback callback to this login (RFC 6749 10.12). */
export function createState(): string {
  return randomBytes(24).toString('base64url');
}

/** Constant-time string comparison (a wrong `state` reveals nothing about the right one). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
