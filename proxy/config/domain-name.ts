import { domainToASCII } from 'node:url';

/**
 * Email domains as Gatehouse compares them: lower-case ASCII, internationalized names in
 * punycode (UTS #46 through WHATWG `domainToASCII`, so `BÜCHER.example`, `bücher.example` and
 * `xn--bcher-kva.example` are one domain), no trailing dot.
 * @returns the normalized domain, or undefined when it is not a host name with at least two labels
 */
export function normalizeDomain(domain: string): string | undefined {
  const trimmed = domain.trim().replace(/\.$/, '');
  if (!trimmed || /[\s/@:[\]\\?#%]/.test(trimmed)) return undefined;
  const ascii = domainToASCII(trimmed);
  if (!ascii || !/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/.test(ascii)) return undefined;
  return ascii;
}

/** The domain itself, then each parent with at least two labels: a.b.corp.example -> …, corp.example. */
export function selfAndParents(domain: string): string[] {
  const labels = domain.split('.');
  return labels.slice(0, -1).map((_l, i) => labels.slice(i).join('.'));
}
