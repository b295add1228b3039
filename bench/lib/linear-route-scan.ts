import type { CompiledRoute } from '../../proxy/policy/compile.js';
import type { RouteMatch } from '../../proxy/policy/route-table.js';

/** How a route's host relates to a request's host; lower is more specific, -1 is no match. */
export type HostTier = -1 | 0 | 1 | 2 | 3 | 4;

interface HostSpec {
  wildcard: boolean;
  /** Host name without `*.` and without the port. */
  name: string;
  /** Digits after the last `:`, or '' when none. */
  port: string;
}

/** `a.example.com:8443` -> name and port; `[::1]:80` -> `[::1]` and `80`; `*.x.com` -> wildcard. */
export function splitHost(host: string): HostSpec {
  const wildcard = host.startsWith('*.');
  const bare = wildcard ? host.slice(2) : host;
  const close = bare.lastIndexOf(']');
  const colon = bare.lastIndexOf(':');
  const hasPort = colon > close && /^\d+$/.test(bare.slice(colon + 1));
  return { wildcard, name: hasPort ? bare.slice(0, colon) : bare, port: hasPort ? bare.slice(colon + 1) : '' };
}

/**
 * The tier at which a route's host takes a request's host, as route-table.ts documents it:
 * 0 exact `host:port`, 1 the host name on any port, 2 `*.parent:port`, 3 `*.parent` (one label),
 * 4 any host (the route names none), -1 not this host.
 */
export function hostTier(route: HostSpec | undefined, request: HostSpec): HostTier {
  if (!route) return 4;
  if (!route.wildcard) {
    if (route.name !== request.name) return -1;
    if (route.port === '') return 1;
    return route.port === request.port ? 0 : -1;
  }
  const label = request.name.slice(0, request.name.length - route.name.length - 1);
  const oneLabel = request.name.endsWith(`.${route.name}`) && label !== '' && !label.includes('.') && !request.name.startsWith('[');
  if (!oneLabel) return -1;
  if (route.port === '') return 3;
  return route.port === request.port ? 2 : -1;
}

const KIND = { exact: 0, glob: 1, prefix: 2 } as const;

/** More literal characters first, then fewer `**` runs; 0 for prefixes and exact paths. */
function globOrder(route: CompiledRoute): [number, number] {
  if (route.path.kind !== 'glob') return [0, 0];
  const t = route.path.text;
  return [-t.split('').filter((c) => c !== '*').length, t.split(/[^*]+/).filter((run) => run.length >= 2).length];
}

/** Sorts routes most specific first, as route-table.ts documents (host tiers apart). */
export function bySpecificity(a: CompiledRoute, b: CompiledRoute): number {
  const [al, aa] = globOrder(a);
  const [bl, ba] = globOrder(b);
  return (
    b.path.literalSegments.length - a.path.literalSegments.length ||
    KIND[a.path.kind] - KIND[b.path.kind] ||
    al - bl ||
    aa - ba ||
    Number(b.methods !== undefined) - Number(a.methods !== undefined) ||
    a.order - b.order
  );
}

/**
 * The naive matcher: every route is tried for every request, in one pass over the routes sorted
 * most specific first; the route of the best host tier wins. Same answers as RouteTable (the
 * property tests check it), cost linear in the number of routes: the baseline of bench/routes.ts.
 */
export class LinearRouteScan {
  private readonly entries: ReadonlyArray<{ route: CompiledRoute; host: HostSpec | undefined }>;

  constructor(routes: readonly CompiledRoute[]) {
    this.entries = [...routes].sort(bySpecificity).map((route) => ({ route, host: route.host ? splitHost(route.host) : undefined }));
  }

  match(host: string, path: string, method: string): RouteMatch | undefined {
    const request = splitHost(host);
    let best: CompiledRoute | undefined;
    let bestTier = 5;
    let refused: Set<string> | undefined;
    for (const { route, host: spec } of this.entries) {
      const tier = hostTier(spec, request);
      if (tier === -1 || tier >= bestTier || !route.path.test(path)) continue;
      if (!route.methods || route.methods.has(method)) {
        best = route;
        bestTier = tier;
        continue;
      }
      refused ??= new Set();
      for (const m of route.methods) refused.add(m);
    }
    if (best) return { route: best };
    return refused ? { methodNotAllowed: [...refused].sort() } : undefined;
  }
}
