import type { CompiledRoute } from './compile.js';
import { RouteTable } from './route-table.js';

/** A route that loses some or all of its own requests to another route. */
export interface Shadow {
  route: CompiledRoute;
  /** The route that takes them. */
  by: CompiledRoute;
  /** True when no probe of the route reaches it: it can never be selected. */
  full: boolean;
  /** One request that goes to `by` instead. */
  example: string;
}

/**
 * Finds routes shadowed by others, by asking the real matcher: each route is probed with
 * requests its own host, path pattern and methods describe (a wildcard host gets a sample
 * label, a prefix its own path and one below, a glob its wildcards filled in). A route that
 * none of its probes reaches can never be selected. A route that loses some probes to a route
 * that is not a deeper literal path (a broader glob at the same depth, say) is reported too:
 * carving `/api/health` out of `/` is intended, a glob swallowing a prefix's paths rarely is.
 */
export function findShadows(routes: readonly CompiledRoute[]): Shadow[] {
  const table = new RouteTable(routes);
  const out: Shadow[] = [];
  for (const route of routes) {
    let reached = false;
    let first: { by: CompiledRoute; example: string } | undefined;
    let surprising: { by: CompiledRoute; example: string } | undefined;
    for (const p of probesOf(route)) {
      const hit = table.match(p.host, p.path, p.method);
      const winner = hit && 'route' in hit ? hit.route : undefined;
      if (!winner) continue;
      if (winner === route) {
        reached = true;
        continue;
      }
      const lost = { by: winner, example: `${p.method} ${p.host}${p.path}` };
      first ??= lost;
      if (!surprising && !deeperCarveOut(winner, route)) surprising = lost;
    }
    if (!reached && first) out.push({ route, ...first, full: true });
    else if (surprising) out.push({ route, ...surprising, full: false });
  }
  return out;
}

/** A path segment no pattern names on purpose, for wildcards and sub-paths. */
const FILL = '_probe_';

interface Probe {
  host: string;
  path: string;
  method: string;
}

function probesOf(route: CompiledRoute): Probe[] {
  const host = !route.host ? 'any-host.invalid' : route.host.startsWith('*.') ? `sample${route.host.slice(1)}` : route.host;
  const p = route.path;
  const paths =
    p.kind === 'exact' ? [p.text] : p.kind === 'glob' ? [p.text.replace(/\*\*+/g, `${FILL}/${FILL}`).replace(/\*/g, FILL)] : [p.text, p.text === '/' ? `/${FILL}` : `${p.text}/${FILL}`];
  const methods = route.methods ? [...route.methods].filter((m) => m !== 'HEAD') : ['GET', 'POST'];
  return paths.flatMap((path) => methods.map((method) => ({ host, path, method })));
}

/** A winner anchored deeper in the path than the loser carves out a part of it on purpose. */
function deeperCarveOut(winner: CompiledRoute, loser: CompiledRoute): boolean {
  return winner.path.literalSegments.length > loser.path.literalSegments.length;
}
