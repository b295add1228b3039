import type { CompiledRule, Decision, Identity } from './types.js';

/** The rules of one route, compiled. */
export interface RouteRules {
  allow: readonly CompiledRule[];
  deny: readonly CompiledRule[];
  /** True when some allow rule needs no identity. */
  hasPublic: boolean;
}

/**
 * Decides a request. Deny wins over allow; nothing allows by default.
 * - deny rules are checked first (only when there is an identity: they name people);
 * - then allow rules in order; `public` admits anyone, the others need an identity;
 * - no identity and no public rule: refused as `user-unauthenticated` (callers send to login);
 * - otherwise refused with the reasons of the nearest miss.
 */
export function evaluate(rules: RouteRules, identity: Identity | undefined): Decision {
  if (identity) {
    for (const rule of rules.deny) {
      const hit = matchRule(rule, identity);
      if (hit) return { allow: false, unauthenticated: false, reasons: ['denied-by-rule', ...hit], rule: rule.label };
    }
  }
  const misses = new Set<string>();
  for (const rule of rules.allow) {
    if (rule.public) return { allow: true, unauthenticated: false, reasons: ['public'], rule: rule.label };
    if (!identity) continue;
    const hit = matchRule(rule, identity, misses);
    if (hit) return { allow: true, unauthenticated: false, reasons: hit, rule: rule.label };
  }
  if (!identity) return { allow: false, unauthenticated: true, reasons: ['user-unauthenticated'] };
  return { allow: false, unauthenticated: false, reasons: misses.size ? [...misses] : ['no-rule-matched'] };
}

/** Returns the reasons a rule matches, or undefined (adding why not to `misses`). All criteria must hold. */
export function matchRule(rule: CompiledRule, id: Identity, misses?: Set<string>): string[] | undefined {
  const reasons: string[] = [];
  if (rule.connections) {
    if (!rule.connections.has(id.connection)) return miss(misses, 'connection-unauthorized');
    reasons.push('connection-ok');
  }
  if (rule.authenticated) reasons.push('authenticated');
  if (rule.groups) {
    if (!id.groups.some((g) => rule.groups!.has(g))) return miss(misses, 'groups-unauthorized');
    reasons.push('groups-ok');
  }
  if (rule.emails) {
    if (!id.email || !rule.emails.has(id.email)) return miss(misses, 'email-unauthorized');
    reasons.push('email-ok');
  }
  if (rule.domains) {
    const at = id.email ? id.email.lastIndexOf('@') : -1;
    const domain = at > 0 ? id.email!.slice(at + 1) : undefined;
    if (!domain || !rule.domains.has(domain)) return miss(misses, 'email-domain-unauthorized');
    reasons.push('email-domain-ok');
  }
  return reasons;
}

function miss(misses: Set<string> | undefined, reason: string): undefined {
  misses?.add(reason);
  return undefined;
}
