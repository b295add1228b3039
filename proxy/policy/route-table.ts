import type { CompiledRoute } from './compile.js';

/**
 * Finds the route for a host and normalized path. Most specific wins:
 * 1. routes for the exact `host:port`, then for the host name on any port, then for any host;
 * 2. within those, the longest path prefix, matched on whole segments.
 * Built once; a lookup walks at most the routes of one host, longest prefix first.
 */
export class RouteTable {
  private readonly byAuthority = new Map<string, CompiledRoute[]>();
  private readonly byHostname = new Map<string, CompiledRoute[]>();
  private readonly anyHost: CompiledRoute[] = [];

  constructor(readonly routes: readonly CompiledRoute[]) {
    for (const route of routes) {
      if (!route.host) this.anyHost.push(route);
      else if (hasPort(route.host)) push(this.byAuthority, route.host, route);
      else push(this.byHostname, route.host, route);
    }
    const longestFirst = (a: CompiledRoute, b: CompiledRoute) => b.prefix.length - a.prefix.length;
    for (const list of [...this.byAuthority.values(), ...this.byHostname.values(), this.anyHost]) list.sort(longestFirst);
  }

  /** The route for `host` (lowercase, with optional port) and normalized `path`, if any. */
  match(host: string, path: string): CompiledRoute | undefined {
    return (
      firstPrefix(this.byAuthority.get(host), path) ??
      firstPrefix(this.byHostname.get(hostnameOf(host)), path) ??
      firstPrefix(this.anyHost, path)
    );
  }
}

/** True when `path` is `prefix` or lies below it on a segment boundary. */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '/') return true;
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47);
}

function firstPrefix(list: CompiledRoute[] | undefined, path: string): CompiledRoute | undefined {
  if (!list) return undefined;
  for (const route of list) if (underPrefix(path, route.prefix)) return route;
  return undefined;
}

function hasPort(host: string): boolean {
  return /:\d+$/.test(host);
}

function hostnameOf(host: string): string {
  return hasPort(host) ? host.slice(0, host.lastIndexOf(':')) : host;
}

function push(map: Map<string, CompiledRoute[]>, key: string, route: CompiledRoute): void {
  const list = map.get(key);
  if (list) list.push(route);
  else map.set(key, [route]);
}
