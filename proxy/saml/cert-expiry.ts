import type { IdpMetadata } from './idp-metadata.js';

/** Certificates that expire within this many days are warned about. */
export const EXPIRY_WARNING_DAYS = 30;
const DAY_MS = 86_400_000;

/** One signing certificate close to (or past) its notAfter. */
export interface ExpiringCert {
  fingerprint: string;
  notAfter: string;
  /** Whole days left, negative once expired. */
  daysLeft: number;
}

/** The IdP signing certificates of `md` that expire within EXPIRY_WARNING_DAYS of `nowMs` (or have). */
export function expiringCerts(md: Pick<IdpMetadata, 'certsExpireAt' | 'certFingerprints'>, nowMs: number): ExpiringCert[] {
  const out: ExpiringCert[] = [];
  md.certsExpireAt.forEach((notAfter, i) => {
    const left = notAfter - nowMs;
    if (left > EXPIRY_WARNING_DAYS * DAY_MS) return;
    out.push({ fingerprint: md.certFingerprints[i] ?? '', notAfter: new Date(notAfter).toISOString(), daysLeft: Math.floor(left / DAY_MS) });
  });
  return out;
}
