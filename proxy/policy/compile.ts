import type { RouteConfig, RuleConfig } from '../config/policy-schema.js';
import type { LoadedPolicyFile } from '../config/load.js';
import type { RouteRules } from './evaluate.js';
import type { CompiledRule } from './types.js';

/** Identity header names for one route. */
export interface IdentityHeaderNames {
  user: string;
  email: string;
  groups: string;
}

/** A route compiled once at startup: everything a request needs, looked up not computed. */
export interface CompiledRoute extends RouteRules {
  name: string;
  /** `host` or `host:port`, lowercase; undefined for any host. */
  host?: string;
  /** Path prefix without trailing slash (`/` stays `/`). */
  prefix: string;
  upstream: URL;
  /** `upstream`'s origin, host and base path, read once here (URL getters allocate). */
  upstreamOrigin: string;
  upstreamHost: string;
  /** Base path to prepend ('' when the upstream URL has none). */
  upstreamBase: string;
  headers: IdentityHeaderNames;
  timeoutMs: number;
  websockets: boolean;
  preserveHost: boolean;
  /** `file:line` of the route, for explanations. */
  source: string;
}

/** Compiles every route of every file. */
export function compileRoutes(files: readonly LoadedPolicyFile[]): CompiledRoute[] {
  return files.flatMap((f) => f.policy.routes.map((r, i) => compileRoute(r, `${f.file}:${f.routeLines[i] ?? 0}`)));
}

function compileRoute(r: RouteConfig, source: string): CompiledRoute {
  const allow = r.allow.map((rule, i) => compileRule(rule, `allow[${i}]`));
  const upstream = new URL(r.upstream);
  return Object.freeze({
    name: r.name,
    host: r.host,
    prefix: r.path === '/' ? '/' : r.path.replace(/\/+$/, ''),
    upstream,
    upstreamOrigin: upstream.origin,
    upstreamHost: upstream.host,
    upstreamBase: upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/$/, ''),
    headers: Object.freeze({ ...r.headers }),
    timeoutMs: r.timeout,
    websockets: r.websockets,
    preserveHost: r.preserve_host,
    allow,
    deny: r.deny.map((rule, i) => compileRule(rule, `deny[${i}]`)),
    hasPublic: allow.some((a) => a.public),
    source,
  });
}

function compileRule(rule: RuleConfig, label: string): CompiledRule {
  const lower = (xs: string[] | undefined) => (xs ? new Set(xs.map((x) => x.toLowerCase())) : undefined);
  return Object.freeze({
    label,
    public: rule.public === true,
    authenticated: rule.authenticated === true,
    groups: rule.groups ? new Set(rule.groups) : undefined,
    emails: lower(rule.emails),
    domains: lower(rule.email_domains),
    connections: rule.connections ? new Set(rule.connections) : undefined,
  });
}
