import { normalizeDomain, selfAndParents } from '../config/domain-name.js';

/** The normalized domain of an address (after its last `@`), or undefined. */
export function domainOfAddress(address: string): string | undefined {
  const at = address.lastIndexOf('@');
  return at > 0 && at < address.length - 1 ? normalizeDomain(address.slice(at + 1)) : undefined;
}

/** What a connection says about email domains. */
export interface DomainClaim {
  connection: string;
  domains: readonly string[];
  enforce: boolean;
}

/**
 * Which connection owns which email domain, built once from the config. `route` serves
 * home-realm discovery (most specific claimed domain wins); `enforcedOwner` says which
 * connection alone may sign in users of a domain (an enforced domain covers its sub-domains:
 * whoever owns corp.example in DNS owns eu.corp.example too).
 */
export class DomainDirectory {
  private readonly owners = new Map<string, { connection: string; enforce: boolean }>();

  constructor(claims: readonly DomainClaim[]) {
    for (const c of claims) {
      for (const d of c.domains) {
        const domain = normalizeDomain(d);
        // Config checks (semantics.ts) refuse bad and doubly-claimed domains before we get here.
        if (domain && !this.owners.has(domain)) this.owners.set(domain, { connection: c.connection, enforce: c.enforce });
      }
    }
  }

  /** The connection for someone who typed this address, or undefined when no domain matches. */
  route(address: string): string | undefined {
    const domain = domainOfAddress(address);
    if (!domain) return undefined;
    for (const d of selfAndParents(domain)) {
      const owner = this.owners.get(d);
      if (owner) return owner.connection;
    }
    return undefined;
  }

  /** The connection that enforces this name's domain (or a parent of it), if any. */
  enforcedOwner(name: string | undefined): string | undefined {
    const domain = name ? domainOfAddress(name) : undefined;
    if (!domain) return undefined;
    for (const d of selfAndParents(domain)) {
      const owner = this.owners.get(d);
      if (owner?.enforce) return owner.connection;
    }
    return undefined;
  }

  /** True when some domain is claimed (the sign-in page shows its email field). */
  get size(): number {
    return this.owners.size;
  }
}
