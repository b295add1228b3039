import type { LoadedConfig } from '../config/load.js';
import type { RuleConfig } from '../config/policy-schema.js';
import type { ConfigProblem } from '../config/problems.js';
import { classSatisfies } from '../config/authn-classes.js';

/**
 * `check` warnings for step-up requirements no login can meet: a route's
 * `require_authn_context` whose classes a connection's own `authn_context` never accepts. The
 * ACS checks both (docs/step-up.md), so a step-up through that connection would always fail.
 * Also step-up across connections: with several connections, a route asking for a stronger or
 * recent login (`require_authn_context`, `max_authn_age`) whose allow rules do not all name
 * `connections:` lets any IdP assert the class or the AuthnInstant for its own users.
 */
export function lintStepUp(loaded: LoadedConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const connections = loaded.config.saml.connections.length;
  for (const f of loaded.policies) {
    f.policy.routes.forEach((route, i) => {
      if (connections > 1 && (route.require_authn_context || route.max_authn_age !== undefined) && !route.allow.every(pinsConnections) && !route.deny.some(deniesOtherConnections)) {
        problems.push({
          file: f.file,
          line: f.routeLines[i] ?? 0,
          key: `route ${route.name}.allow`,
          message: `warning: the route asks for a stronger or recent login (require_authn_context / max_authn_age) but an allow rule does not name connections: any of the ${connections} connections' IdPs can assert it; add connections: [...] to each allow rule`,
        });
      }
      const wanted = route.require_authn_context;
      if (!wanted) return;
      for (const conn of loaded.config.saml.connections) {
        const own = conn.authn_context;
        if (!own || wanted.some((c) => classSatisfies(c, own.classes, own.comparison))) continue;
        problems.push({
          file: f.file,
          line: f.routeLines[i] ?? 0,
          key: `route ${route.name}.require_authn_context`,
          message: `warning: connection "${conn.id}" accepts none of these classes (its authn_context: ${own.comparison} ${own.classes.join(', ')}): a step-up through it always fails`,
        });
      }
    });
  }
  return problems;
}

/** Whether a rule only matches users of the connections it names (`connections:`, in it or in every branch). */
export function pinsConnections(rule: RuleConfig): boolean {
  if (rule.connections) return true;
  if (rule.and?.some(pinsConnections)) return true;
  return rule.or !== undefined && rule.or.length > 0 && rule.or.every(pinsConnections);
}

/** A deny rule `{ not: { connections: [...] } }`: everyone from another connection is refused. */
function deniesOtherConnections(rule: RuleConfig): boolean {
  return Object.keys(rule).length === 1 && rule.not !== undefined && pinsConnections(rule.not);
}
