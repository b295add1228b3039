import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { classSatisfies } from '../saml/authn-classes.js';

/**
 * `check` warnings for step-up requirements no login can meet: a route's
 * `require_authn_context` whose classes a connection's own `authn_context` never accepts. The
 * ACS checks both (docs/step-up.md), so a step-up through that connection would always fail.
 */
export function lintStepUp(loaded: LoadedConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const f of loaded.policies) {
    f.policy.routes.forEach((route, i) => {
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
