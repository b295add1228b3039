import { normalizeDomain, selfAndParents } from './domain-name.js';

type At = (path: PropertyKey[], key: string, message: string) => void;
type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/**
 * `email_domains` and `enforce` across connections: every domain a host name (compared
 * lower-case, IDNs as punycode), claimed by one connection only; `enforce` needs domains; a
 * domain under one another connection enforces cannot be claimed (its logins would be refused).
 */
export function checkEmailDomains(connections: unknown[], at: At): void {
  const owners = new Map<string, { index: number; id: string; enforce: boolean }>();
  const claimed: { domain: string; index: number; j: number }[] = [];
  connections.forEach((item, i) => {
    const c = obj(item);
    const base = ['saml', 'connections', i];
    const id = typeof c.id === 'string' ? c.id : `#${i}`;
    const domains = Array.isArray(c.email_domains) ? c.email_domains : [];
    if (c.enforce === true && domains.length === 0) at([...base, 'enforce'], `saml.connections[${i}].enforce`, 'needs email_domains: the domains this connection is the only way in for');
    domains.forEach((raw, j) => {
      if (typeof raw !== 'string') return;
      const key = `saml.connections[${i}].email_domains[${j}]`;
      const domain = normalizeDomain(raw);
      if (!domain) return at([...base, 'email_domains', j], key, `"${raw}" is not a domain name (e.g. corp.example)`);
      const prior = owners.get(domain);
      if (prior && prior.index !== i) return at([...base, 'email_domains', j], key, `"${domain}" is already claimed by connection "${prior.id}" (saml.connections[${prior.index}]); one domain, one connection`);
      if (!prior) owners.set(domain, { index: i, id, enforce: c.enforce === true });
      claimed.push({ domain, index: i, j });
    });
  });
  for (const { domain, index, j } of claimed) {
    for (const above of selfAndParents(domain).slice(1)) {
      const parent = owners.get(above);
      if (parent && parent.enforce && parent.index !== index) {
        at(['saml', 'connections', index, 'email_domains', j], `saml.connections[${index}].email_domains[${j}]`, `"${domain}" is under "${above}", which connection "${parent.id}" enforces: its users could never sign in here`);
      }
    }
  }
}
