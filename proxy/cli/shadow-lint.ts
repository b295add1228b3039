import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { compileRoutes, type CompiledRoute } from '../policy/compile.js';
import { findDeadCriteria, findHostTakeovers, findShadows } from '../policy/shadowing.js';

/**
 * `check` warnings, located at the route concerned (see policy/shadowing.ts): routes another
 * route takes over, routes for any host or a wildcard that a host's own routes override, and
 * rule criteria that can never hold on their route.
 */
export function lintShadowedRoutes(loaded: LoadedConfig): ConfigProblem[] {
  const routes = compileRoutes(loaded.policies);
  const at = (route: CompiledRoute, key: string, message: string): ConfigProblem => {
    const [file, line] = splitSource(route.source);
    return { file, line, key, message: `warning: ${message}` };
  };
  const takeovers = findHostTakeovers(routes).map((t) =>
    at(t.route, `route ${t.route.name}`, `route "${t.route.name}" (${t.route.host ?? 'any host'}) does not apply on ${t.hosts.join(', ')}${t.count > t.hosts.length ? ` and ${t.count - t.hosts.length} more host(s)` : ''}: a route for the host itself takes its paths there (e.g. ${t.example} goes to "${t.by.name}" at ${t.by.source}); repeat its rules on that host if it is a guard`),
  );
  const dead = findDeadCriteria(routes).map((d) => at(d.route, `route ${d.route.name} ${d.rule}`, d.what));
  return [...shadows(routes), ...takeovers, ...dead];
}

function shadows(routes: CompiledRoute[]): ConfigProblem[] {
  return findShadows(routes).map((s) => {
    const [file, line] = splitSource(s.route.source);
    const what = s.full
      ? `route "${s.route.name}" is never selected: none of its sample requests reach it (e.g. ${s.example} goes to "${s.by.name}" at ${s.by.source})`
      : `route "${s.by.name}" (${s.by.source}) takes part of route "${s.route.name}"'s requests at the same path depth (e.g. ${s.example})`;
    return { file, line, key: `route ${s.route.name}`, message: `warning: ${what}` };
  });
}

function splitSource(source: string): [string, number] {
  const colon = source.lastIndexOf(':');
  return [source.slice(0, colon), Number(source.slice(colon + 1)) || 0];
}
