import type { LoadedConfig } from '../config/load.js';
import type { RuleConfig } from '../config/policy-schema.js';
import type { ConfigProblem } from '../config/problems.js';
import { pinsConnections } from './step-up-lint.js';

/**
 * `check` warnings for routes that service accounts reach without anyone having said so: an allow
 * rule `authenticated: true` that names no `connections:` admits every service-account token too
 * (docs/service-accounts.md). Policies written before the accounts existed widen silently.
 */
export function lintServiceAccounts(loaded: LoadedConfig): ConfigProblem[] {
  const accounts = Object.keys(loaded.config.service_accounts);
  if (accounts.length === 0) return [];
  const problems: ConfigProblem[] = [];
  for (const f of loaded.policies) {
    f.policy.routes.forEach((route, i) => {
      if (!route.allow.some((rule) => admitsAnyone(rule) && !pinsConnections(rule))) return;
      problems.push({
        file: f.file,
        line: f.routeLines[i] ?? 0,
        key: `route ${route.name}.allow`,
        message: `warning: authenticated: true without connections: also admits the service accounts (${accounts.join(', ')}); name the connections (e.g. connections: [${loaded.config.saml.connections.map((c) => c.id).join(', ')}]) if they should not reach it`,
      });
    });
  }
  return problems;
}

/** A rule that `authenticated: true` satisfies on its own, here or in an `or`/`and` branch. */
function admitsAnyone(rule: RuleConfig): boolean {
  if (rule.authenticated === true && !rule.groups && !rule.emails && !rule.email_domains) return true;
  return (rule.or ?? []).some(admitsAnyone) || ((rule.and?.length ?? 0) > 0 && rule.and!.every(admitsAnyone));
}
