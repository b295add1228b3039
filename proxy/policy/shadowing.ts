import type { CompiledRoute } from './compile.js';
import type { PathPattern } from './path-pattern.js';
import { probeHost } from './probes.js';
import { childrenOf, type RuleNode } from './rules.js';
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
  const host = probeHost(route.host);
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

/** A route whose paths, on some more specific host, another route takes. */
export interface HostTakeover {
  route: CompiledRoute;
  by: CompiledRoute;
  /** The hosts where it happens (a few), and how many in all. */
  hosts: string[];
  count: number;
  example: string;
}

/**
 * Routes for any host or a wildcard do not apply on a host that has routes of its own for the
 * same paths: a "guard" route for `/admin` on any host is not consulted on `a.example.com`
 * when that host has a `/` route. Found by probing the route's paths on every configured host
 * it would cover.
 */
export function findHostTakeovers(routes: readonly CompiledRoute[]): HostTakeover[] {
  const table = new RouteTable(routes);
  const exactHosts = [...new Set(routes.flatMap((r) => (r.host && !r.host.startsWith('*.') ? [r.host] : [])))];
  const out: HostTakeover[] = [];
  for (const route of routes) {
    if (route.host && !route.host.startsWith('*.')) continue;
    const covered = exactHosts.filter((h) => !route.host || oneLabelUnder(h, route.host));
    let first: { by: CompiledRoute; example: string } | undefined;
    const hosts: string[] = [];
    for (const host of covered) {
      const lost = probesOf(route).map((p) => ({ p, hit: table.match(host, p.path, p.method) })).find(({ hit }) => hit && 'route' in hit && hit.route !== route);
      if (!lost || !lost.hit || !('route' in lost.hit)) continue;
      hosts.push(host);
      first ??= { by: lost.hit.route, example: `${lost.p.method} ${host}${lost.p.path}` };
    }
    if (first) out.push({ route, by: first.by, hosts: hosts.slice(0, 3), count: hosts.length, example: first.example });
  }
  return out;
}

function oneLabelUnder(host: string, wildcard: string): boolean {
  const [suffix, port] = wildcard.slice(1).split(/(?=:\d+$)/);
  const name = port ? (host.endsWith(port) ? host.slice(0, -port.length) : undefined) : host.replace(/:\d+$/, '');
  if (name === undefined || !name.endsWith(suffix!)) return false;
  const label = name.slice(0, -suffix!.length);
  return label.length > 0 && !label.includes('.');
}

/** A rule criterion that can never hold on its route. */
export interface DeadCriterion {
  route: CompiledRoute;
  rule: string;
  what: string;
}

/**
 * Rule `paths` no request of the route can match (they are whole request paths: a `paths`
 * written relative to the route's path never holds) and rule `methods` the route never takes.
 */
export function findDeadCriteria(routes: readonly CompiledRoute[]): DeadCriterion[] {
  const out: DeadCriterion[] = [];
  for (const route of routes) {
    for (const rule of [...route.deny, ...route.allow]) {
      visitNodes(rule.node, (n) => {
        for (const p of n.paths ?? []) {
          if (!canOverlap(route, p)) out.push({ route, rule: rule.label, what: `paths entry "${p.text}" lies outside the route's path "${route.path.text}": it can never hold (rule paths are whole request paths, not relative to the route)` });
        }
        if (n.methods && route.methods && ![...n.methods].some((m) => route.methods!.has(m))) {
          out.push({ route, rule: rule.label, what: `methods ${[...n.methods].join(', ')} are none the route takes (${[...route.methods].join(', ')}): it can never hold` });
        }
      });
    }
  }
  return out;
}

function visitNodes(n: RuleNode, fn: (n: RuleNode) => void): void {
  fn(n);
  for (const child of childrenOf(n)) visitNodes(child, fn);
}

/** Whether some path can be both under the route's pattern and the rule's (by literal heads). */
function canOverlap(route: CompiledRoute, p: PathPattern): boolean {
  if (route.path.kind === 'exact') return p.test(route.path.text);
  const a = literalHead(route.path);
  const b = literalHead(p);
  return a.startsWith(b) || b.startsWith(a);
}

function literalHead(p: PathPattern): string {
  const star = p.text.indexOf('*');
  return star === -1 ? p.text.replace(/\/$/, '') : p.text.slice(0, star);
}
