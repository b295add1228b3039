import { isIP, SocketAddress, type BlockList } from 'node:net';
import type { PathPattern } from './path-pattern.js';
import type { CompiledRule, RuleNode } from './rules.js';
import type { Decision, Identity, RequestFacts } from './types.js';

/** The rules of one route, compiled. */
export interface RouteRules {
  allow: readonly CompiledRule[];
  deny: readonly CompiledRule[];
  /** Some rule looks at the client address: an unknown address then refuses (fail closed). */
  usesSourceIp: boolean;
}

/** Three-valued truth: identity criteria are UNKNOWN while nobody is signed in. */
export const FALSE = 0;
export const TRUE = 1;
export const UNKNOWN = 2;
export type Truth = typeof FALSE | typeof TRUE | typeof UNKNOWN;

/**
 * Decides a request. Deny wins over allow; nothing allows by default.
 * 1. deny rules first: one that holds refuses (`denied-by-rule`);
 * 2. allow rules in order: the first that holds allows;
 * 3. nobody signed in, and some allow rule could hold once someone is, or one holds but a deny
 *    rule could hold once someone is: `user-unauthenticated` (callers send to sign-in);
 * 4. otherwise refused with the reasons of the misses.
 * Without an identity, identity criteria are UNKNOWN (Kleene logic: not UNKNOWN is UNKNOWN), so
 * `not: { groups: [admins] }` neither refuses nor admits an anonymous request: it asks for sign-in.
 */
export function evaluate(rules: RouteRules, identity: Identity | undefined, req: RequestFacts): Decision {
  // `source_ip` rules cut both ways (a deny for a network, an allow for the office): without a
  // usable client address neither can be decided, so nothing is decided in the caller's favour.
  if (rules.usesSourceIp && req.clientIp === '') return { allow: false, unauthenticated: false, reasons: ['client-address-unknown'] };
  // Truth first, reasons after: the rule that decides is walked again to say why, so the common
  // path allocates nothing but the decision.
  let denyCouldHold = false;
  for (const rule of rules.deny) {
    const t = truth(rule.node, identity, req);
    if (t === TRUE) return { allow: false, unauthenticated: false, reasons: reasonsOf(rule, identity, req, ['denied-by-rule']), rule: rule.label };
    if (t === UNKNOWN) denyCouldHold = true;
  }
  let couldAfterSignIn = false;
  for (const rule of rules.allow) {
    const t = truth(rule.node, identity, req);
    // A deny rule that may hold once we know who is asking must be decided before anything is
    // admitted: the caller signs in first (a public route is no way around an identity deny).
    if (t === TRUE) return denyCouldHold ? SIGN_IN : { allow: true, unauthenticated: false, reasons: reasonsOf(rule, identity, req, []), rule: rule.label };
    if (t === UNKNOWN) couldAfterSignIn = true;
  }
  if (!identity && couldAfterSignIn) return SIGN_IN;
  const misses = new Set<string>();
  for (const rule of rules.allow) truth(rule.node, identity, req, undefined, misses);
  return { allow: false, unauthenticated: false, reasons: misses.size ? [...misses] : ['no-rule-matched'] };
}

const SIGN_IN: Decision = Object.freeze({ allow: false, unauthenticated: true, reasons: Object.freeze(['user-unauthenticated']) as string[] });

function reasonsOf(rule: CompiledRule, identity: Identity | undefined, req: RequestFacts, into: string[]): string[] {
  truth(rule.node, identity, req, into);
  return into;
}

/**
 * The truth of one rule: every criterion must hold (AND). Request criteria come first so a
 * definite miss wins over an unknown. When asked, reasons of holding criteria go to `reasons`
 * and the first miss to `misses`.
 */
export function truth(n: RuleNode, id: Identity | undefined, req: RequestFacts, reasons?: string[], misses?: Set<string>): Truth {
  let result: Truth = TRUE;
  if (n.methods) {
    if (!n.methods.has(req.method)) return miss(misses, 'method-unauthorized');
    reasons?.push('method-ok');
  }
  if (n.paths) {
    if (!n.paths.some((p) => testPath(p, req))) return miss(misses, 'path-unauthorized');
    reasons?.push('path-ok');
  }
  if (n.sourceIp) {
    if (!addressIn(n.sourceIp, req)) return miss(misses, 'source-ip-unauthorized');
    reasons?.push('source-ip-ok');
  }
  if (n.public) reasons?.push('public');
  if (n.authenticated || n.connections || n.groupsAny || n.groupsAll || n.emails || n.domains) {
    if (!id) result = UNKNOWN;
    else if (identityTruth(n, id, reasons, misses) === FALSE) return FALSE;
  }
  if (n.and) {
    for (const child of n.and) {
      const t = truth(child, id, req, reasons, misses);
      if (t === FALSE) return FALSE;
      if (t === UNKNOWN) result = UNKNOWN;
    }
  }
  if (n.or) {
    let any: Truth = FALSE;
    const childMisses = misses ? new Set<string>() : undefined;
    for (const child of n.or) {
      const mine: string[] | undefined = reasons ? [] : undefined;
      const t = truth(child, id, req, mine, childMisses);
      if (t === TRUE) {
        if (mine) reasons!.push(...mine);
        any = TRUE;
        break;
      }
      if (t === UNKNOWN) any = UNKNOWN;
    }
    if (any === FALSE) {
      for (const m of childMisses ?? []) misses!.add(m);
      return FALSE;
    }
    if (any === UNKNOWN) result = UNKNOWN;
  }
  if (n.not) {
    const explain = reasons !== undefined || misses !== undefined;
    const inner: string[] | undefined = explain ? [] : undefined;
    const innerMisses = explain ? new Set<string>() : undefined;
    const t = truth(n.not, id, req, inner, innerMisses);
    if (t === TRUE) return miss(misses, `not-${inner?.at(-1) ?? 'matched'}`);
    if (t === UNKNOWN) result = UNKNOWN;
    else if (reasons) for (const m of innerMisses!) reasons.push(`not-${m}`);
  }
  return result;
}

/** The client address in a `source_ip` list; parsed once per request (BlockList would parse per check). */
function addressIn(list: BlockList, req: RequestFacts): boolean {
  if (req.address === undefined) {
    const plain = req.clientIp.startsWith('::ffff:') ? req.clientIp.slice(7) : req.clientIp;
    const family = isIP(plain);
    req.address = family === 0 ? null : new SocketAddress({ address: plain, family: family === 6 ? 'ipv6' : 'ipv4' });
  }
  return req.address !== null && list.check(req.address);
}

/** A pattern test, remembered for the request when the caller evaluates it many times. */
function testPath(p: PathPattern, req: RequestFacts): boolean {
  if (!req.memo) return p.test(req.path);
  let hit = req.memo.get(p);
  if (hit === undefined) req.memo.set(p, (hit = p.test(req.path)));
  return hit;
}

function identityTruth(n: RuleNode, id: Identity, reasons: string[] | undefined, misses?: Set<string>): Truth {
  if (n.connections) {
    if (!n.connections.has(id.connection)) return miss(misses, 'connection-unauthorized');
    reasons?.push('connection-ok');
  }
  if (n.authenticated) reasons?.push('authenticated');
  if (n.groupsAny) {
    const any = n.groupsAny;
    if (!id.groups.some((g) => any.has(g))) return miss(misses, 'groups-unauthorized');
    reasons?.push('groups-ok');
  }
  if (n.groupsAll) {
    if (!n.groupsAll.every((g) => id.groups.includes(g))) return miss(misses, 'groups-unauthorized');
    reasons?.push('groups-ok');
  }
  if (n.emails) {
    if (!id.email || !n.emails.has(id.email)) return miss(misses, 'email-unauthorized');
    reasons?.push('email-ok');
  }
  if (n.domains) {
    const at = id.email ? id.email.lastIndexOf('@') : -1;
    const domain = at > 0 ? id.email!.slice(at + 1) : undefined;
    if (!domain || !n.domains.has(domain)) return miss(misses, 'email-domain-unauthorized');
    reasons?.push('email-domain-ok');
  }
  return TRUE;
}

function miss(misses: Set<string> | undefined, reason: string): typeof FALSE {
  misses?.add(reason);
  return FALSE;
}
