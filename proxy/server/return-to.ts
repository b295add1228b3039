import { isGatehouseError } from '../errors.js';
import { parseRequestTarget } from '../path.js';

/**
 * Decides whether a post-login redirect target is ours. Accepted: a path (`/x?y`, not `//x`
 * or `/\x`, which browsers read as another host), or an absolute http(s) URL whose host is the
 * public host or a host a route serves (`*.domain` routes serve one label of the domain). Everything else is refused: an open redirect after
 * login hands a fresh session's user to an attacker's page.
 * @returns the normalized target, or undefined when it is not ours
 */
export function checkReturnTo(target: string | undefined | null, publicUrl: URL, routeHosts: ReadonlySet<string>): string | undefined {
  if (!target || target.length > 4096) return undefined;
  // Visible ASCII only: anything else is either an attack or cannot go into a Location header.
  if (/[^\x21-\x7e]|\\/.test(target)) return undefined;
  if (target.startsWith('/')) {
    if (target.startsWith('//')) return undefined;
    return pathOnly(target);
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return undefined;
  }
  if (url.protocol !== publicUrl.protocol || url.username || url.password) return undefined;
  if (url.host.toLowerCase() !== publicUrl.host && !servedHost(url, routeHosts)) return undefined;
  const path = pathOnly(url.pathname + url.search);
  return path === undefined ? undefined : `${url.origin}${path}`;
}

/** True when a route names this host: exactly, on any port, or by a one-label wildcard. */
export function servedHost(url: URL, routeHosts: ReadonlySet<string>): boolean {
  const host = url.host.toLowerCase();
  const name = url.hostname.toLowerCase();
  const dot = name.indexOf('.');
  const wild = dot > 0 && !name.startsWith('[') ? `*${name.slice(dot)}` : undefined;
  const port = host.length > name.length ? host.slice(name.length) : '';
  return routeHosts.has(host) || routeHosts.has(name) || (wild !== undefined && (routeHosts.has(wild) || (port !== '' && routeHosts.has(wild + port))));
}

function pathOnly(target: string): string | undefined {
  try {
    const t = parseRequestTarget(target.split('#')[0]);
    return t.path + t.query;
  } catch (err) {
    if (isGatehouseError(err)) return undefined;
    throw err;
  }
}
