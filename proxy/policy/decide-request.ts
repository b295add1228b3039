import { isGatehouseError } from '../errors.js';
import { isReserved, parseRequestTarget } from '../path.js';
import { evaluate } from './evaluate.js';
import type { RouteTable } from './route-table.js';
import type { Identity } from './types.js';

/** One request to decide offline, as `policy explain`, `policy test` and `policy diff` give it. */
export interface OfflineRequest {
  method: string;
  /** Absolute URL: host and path route the request. */
  url: string;
  identity?: Identity;
  /** Client address for `source_ip` rules (default 127.0.0.1). */
  sourceIp?: string;
}

export type Verdict = 'allow' | 'deny' | 'sign-in' | 'no-route' | 'bad-path' | 'method-not-allowed' | 'reserved';

/** What deciding found, as printed with --json. */
export interface Explanation {
  request: string;
  decision: Verdict;
  route?: string;
  source?: string;
  rule?: string;
  reasons: string[];
  /** The normalized path that was matched. */
  path?: string;
  /** Methods the matching routes take, for method-not-allowed. */
  allowedMethods?: readonly string[];
}

/**
 * Decides one request exactly as `serve` does: the same path normalization, route table and
 * evaluation. No secrets, no network.
 */
export function decideRequest(table: RouteTable, r: OfflineRequest): Explanation {
  const target = new URL(r.url);
  const method = r.method.toUpperCase();
  const raw = rawTarget(r.url);
  const request = `${method} ${target.protocol}//${target.host}${raw}`;
  let path: string;
  try {
    path = parseRequestTarget(raw).path;
  } catch (err) {
    if (!isGatehouseError(err)) throw err;
    return { request, decision: 'bad-path', reasons: [err.reason] };
  }
  // Gatehouse's own endpoints are answered before any route: never a policy decision.
  if (isReserved(path)) return { request, decision: 'reserved', reasons: ['gatehouse-endpoint'], path };
  const hit = table.match(target.host.toLowerCase(), path, method);
  if (!hit) return { request, decision: 'no-route', reasons: ['no-route'], path };
  if (!('route' in hit)) return { request, decision: 'method-not-allowed', reasons: ['method-not-allowed'], path, allowedMethods: hit.methodNotAllowed };
  const { route } = hit;
  const d = evaluate(route, r.identity, { method, path, clientIp: r.sourceIp ?? '127.0.0.1' });
  return {
    request,
    decision: d.allow ? 'allow' : d.unauthenticated ? 'sign-in' : 'deny',
    route: route.name,
    source: route.source,
    rule: d.rule,
    reasons: d.reasons,
    path,
  };
}

/**
 * The request target a client sends for this URL (the fragment stays with the client). The URL
 * parser's own path is not it: it resolves `..` even above the root, turns `\` into `/` and
 * encodes raw bytes, all of which `serve` refuses with 400.
 */
function rawTarget(url: string): string {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\\]*/.exec(url);
  const rest = authority ? url.slice(authority[0].length).replace(/#.*$/s, '') : '';
  return rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
}
