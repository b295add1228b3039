import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Logins and logouts in flight are bound to the browser that started them through the nonce in
 * its login cookie. The store keeps only the nonce's SHA-256 (a store dump cannot be replayed as a
 * cookie), compared in constant time.
 */
export function bindingOf(nonce: string): string {
  return createHash('sha256').update(nonce).digest('base64url');
}

/** True when `nonce` is the one `binding` was made from. */
export function boundTo(binding: string, nonce: string | undefined): boolean {
  if (!nonce) return false;
  const x = Buffer.from(binding);
  const y = Buffer.from(bindingOf(nonce));
  return x.length === y.length && timingSafeEqual(x, y);
}
