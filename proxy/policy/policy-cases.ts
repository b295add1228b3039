import type { PolicyCase } from '../config/load-policy-tests.js';
import type { IdentitySpec } from '../config/policy-test-schema.js';
import type { CompiledRoute } from './compile.js';
import { decideRequest, type Explanation } from './decide-request.js';
import type { RouteTable } from './route-table.js';
import type { Identity } from './types.js';

/** What a case can get wrong, in the order a report lists them. */
export type Mismatch = 'decision' | 'route' | 'rule' | 'reasons';

/** One case decided: what it got and what of its expectation did not hold. */
export interface CaseResult {
  case: PolicyCase;
  got: Explanation;
  /** Empty when the case passed. */
  wrong: Mismatch[];
}

/**
 * The identity a test or diff decides as, shaped as a SAML login would make it: the email
 * lowercased, the user defaulting to the email, then to the identity's name. Without a
 * connection none is set (''), so `connections` criteria never hold.
 */
export function toIdentity(name: string, spec: IdentitySpec): Identity {
  const email = spec.email?.toLowerCase();
  return { user: spec.user ?? email ?? name, ...(email !== undefined ? { email } : {}), groups: spec.groups, connection: spec.connection ?? '' };
}

/** Decides one case exactly as `serve` would and compares it with what the case expects. */
export function runCase(table: RouteTable, c: PolicyCase): CaseResult {
  const identity = c.identity && toIdentity(c.who, c.identity);
  const got = decideRequest(table, { method: c.request.method, url: c.request.url, identity, sourceIp: c.source_ip });
  const wrong: Mismatch[] = [];
  if (got.decision !== c.expect) wrong.push('decision');
  if (c.route !== undefined && got.route !== c.route) wrong.push('route');
  if (c.rule !== undefined && got.rule !== c.rule) wrong.push('rule');
  if (c.reasons !== undefined && !c.reasons.every((r) => got.reasons.includes(r))) wrong.push('reasons');
  return { case: c, got, wrong };
}

/** A route and the rules that cases did or did not exercise. */
export interface RouteCoverage {
  route: CompiledRoute;
  /** True when some case was routed to it (whatever the decision). */
  reached: boolean;
  /** Labels of rules that decided no case, in `ruleLabels` order (deny first). */
  uncovered: string[];
}

/**
 * Which rules decided some case (`Explanation.rule`) and which routes some case reached.
 * Routes are told apart by name and `file:line`, so several suites can share the same files.
 */
export class Coverage {
  private readonly routes = new Map<string, CompiledRoute>();
  private readonly reached = new Set<string>();
  private readonly decided = new Set<string>();

  /** Adds the routes of one suite and the results of its cases. */
  add(routes: readonly CompiledRoute[], results: readonly CaseResult[]): void {
    for (const r of routes) if (!this.routes.has(key(r.name, r.source))) this.routes.set(key(r.name, r.source), r);
    for (const { got } of results) {
      if (got.route === undefined || got.source === undefined) continue;
      this.reached.add(key(got.route, got.source));
      if (got.rule !== undefined) this.decided.add(`${key(got.route, got.source)} ${got.rule}`);
    }
  }

  /** Every route, in file order, with what no case covered. */
  report(): RouteCoverage[] {
    return [...this.routes.entries()].map(([k, route]) => ({
      route,
      reached: this.reached.has(k),
      uncovered: route.ruleLabels.filter((label) => !this.decided.has(`${k} ${label}`)),
    }));
  }
}

function key(name: string, source: string): string {
  return `${source} ${name}`;
}
