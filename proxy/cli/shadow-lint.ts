import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { compileRoutes } from '../policy/compile.js';
import { findShadows } from '../policy/shadowing.js';

/**
 * `check` warnings for routes another route takes over (see policy/shadowing.ts), located at
 * the shadowed route: `policies/x.yaml:12 routes: warning: route "a" is never selected ...`.
 */
export function lintShadowedRoutes(loaded: LoadedConfig): ConfigProblem[] {
  return findShadows(compileRoutes(loaded.policies)).map((s) => {
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
