/**
 * Authentication context classes and how Gatehouse compares them. SAML core 3.3.2.2.1 leaves
 * "stronger" to the deployment ("as deemed by the responder"); this is our documented order
 * (docs/step-up.md). Classes not listed are never ranked: they satisfy only an exact match.
 */

/** RequestedAuthnContext Comparison (SAML core 3.3.2.2.1). */
export const COMPARISONS = ['exact', 'minimum', 'better', 'maximum'] as const;
export type Comparison = (typeof COMPARISONS)[number];

const AC = 'urn:oasis:names:tc:SAML:2.0:ac:classes:';

/** Well-known classes and their strength: higher is stronger; equal ranks are interchangeable. */
export const CLASS_RANKS: ReadonlyMap<string, number> = new Map([
  [`${AC}Password`, 1],
  [`${AC}PasswordProtectedTransport`, 2],
  // Possession of a key or a second factor.
  [`${AC}X509`, 3],
  [`${AC}TLSClient`, 3],
  [`${AC}Smartcard`, 3],
  [`${AC}SmartcardPKI`, 3],
  [`${AC}MobileTwoFactorContract`, 3],
  [`${AC}MobileTwoFactorUnregistered`, 3],
  [`${AC}TimeSyncToken`, 3],
  ['https://refeds.org/profile/mfa', 3],
  ['http://schemas.microsoft.com/claims/multipleauthn', 3],
]);

/** A class URI as configured: a scheme and no spaces (`urn:...`, `https://...`). */
export const CLASS_URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S{1,1000}$/;

/** The rank of a class, undefined when Gatehouse does not order it. */
export function rankOf(classRef: string): number | undefined {
  return CLASS_RANKS.get(classRef);
}

/**
 * Whether the class the IdP returned satisfies what was requested (SAML core 3.3.2.2.1):
 * - `exact`: one of the requested classes;
 * - `minimum`: one of them, or ranked at least as strong as one of them;
 * - `maximum`: one of them, or ranked no stronger than one of them;
 * - `better`: ranked stronger than every one of them (an unranked class never is).
 * An absent class satisfies nothing.
 */
export function classSatisfies(returned: string | undefined, requested: readonly string[], comparison: Comparison): boolean {
  if (returned === undefined) return false;
  const member = requested.includes(returned);
  if (comparison === 'exact') return member;
  const have = rankOf(returned);
  const ranks = requested.map(rankOf);
  if (comparison === 'better') return have !== undefined && ranks.every((r) => r !== undefined && have > r);
  if (member) return true;
  if (have === undefined) return false;
  if (comparison === 'minimum') return ranks.some((r) => r !== undefined && have >= r);
  return ranks.some((r) => r !== undefined && have <= r);
}
