import { dirname } from 'node:path';
import type { RouteConfig, UpstreamAuthConfig } from '../config/policy-schema.js';
import type { LoadedPolicyFile } from '../config/load.js';
import type { RouteRules } from './evaluate.js';
import { compilePathPattern, type PathPattern } from './path-pattern.js';
import { compileRule, groupsNamed, methodSet, usesSourceIp } from './rules.js';
import { compileStepUp, type StepUpRequirement } from './step-up.js';

/** Identity header names for one route. */
export interface IdentityHeaderNames {
  user: string;
  email: string;
  groups: string;
}

/** Which groups X-Forwarded-Groups carries on a route. */
export type GroupFilter = 'all' | 'none' | ReadonlySet<string>;

/** A route compiled once at startup: everything a request needs, looked up not computed. */
export interface CompiledRoute extends RouteRules {
  name: string;
  /** Position across all files (file order), the last tie-breaker between routes. */
  order: number;
  /** `host`, `host:port`, `*.domain` or `*.domain:port`, lowercase; undefined for any host. */
  host?: string;
  path: PathPattern;
  /** Methods served (GET implies HEAD); undefined for all. */
  methods?: ReadonlySet<string>;
  upstream: URL;
  /** `upstream`'s origin, host and base path, read once here (URL getters allocate). */
  upstreamOrigin: string;
  upstreamHost: string;
  /** Base path to prepend ('' when the upstream URL has none). */
  upstreamBase: string;
  headers: IdentityHeaderNames;
  /** Groups this route's rules name, at any depth. */
  mentionedGroups: ReadonlySet<string>;
  /** Groups named by allow rules: the candidates a deny page may suggest. */
  allowGroups: readonly string[];
  forwardGroups: GroupFilter;
  /** `forward_claims`: [claim name, header name] pairs, in config order. */
  forwardClaims: readonly (readonly [string, string])[];
  explainDenial: boolean;
  timeoutMs: number;
  websockets: boolean;
  preserveHost: boolean;
  /** Top-level rule labels, deny first (`deny[0]`, `allow[0]`, ...), for coverage reports. */
  ruleLabels: readonly string[];
  /** `file:line` of the route, for explanations. */
  source: string;
  /** `require_authn_context` / `max_authn_age`, when set (see step-up.ts). */
  stepUp?: StepUpRequirement;
  /** `upstream_auth` as written, with the policy file's directory (secrets are read by the server). */
  upstreamAuth?: { spec: UpstreamAuthConfig; dir: string };
  /** `identity_jwt`: allowed requests carry a signed identity JWT (forward/identity-jwt.ts). */
  identityJwt: boolean;
}

/** Compiles every route of every file. */
export function compileRoutes(files: readonly LoadedPolicyFile[]): CompiledRoute[] {
  let order = 0;
  return files.flatMap((f) => f.policy.routes.map((r, i) => compileRoute(r, `${f.file}:${f.routeLines[i] ?? 0}`, order++, dirname(f.file))));
}

function compileRoute(r: RouteConfig, source: string, order: number, dir: string): CompiledRoute {
  const allow = r.allow.map((rule, i) => ({ label: `allow[${i}]`, node: compileRule(rule) }));
  const deny = r.deny.map((rule, i) => ({ label: `deny[${i}]`, node: compileRule(rule) }));
  const upstream = new URL(r.upstream);
  const allowGroups = new Set<string>();
  for (const a of allow) groupsNamed(a.node, allowGroups);
  const mentioned = new Set(allowGroups);
  for (const d of deny) groupsNamed(d.node, mentioned);
  const fg = r.forward_groups;
  return Object.freeze({
    name: r.name,
    order,
    host: r.host,
    path: r.path_exact !== undefined ? compilePathPattern(r.path_exact, true) : compilePathPattern(r.path ?? '/'),
    methods: r.methods ? methodSet(r.methods) : undefined,
    upstream,
    upstreamOrigin: upstream.origin,
    upstreamHost: upstream.host,
    upstreamBase: upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/$/, ''),
    headers: Object.freeze({ ...r.headers }),
    mentionedGroups: mentioned,
    allowGroups: [...allowGroups],
    forwardGroups: fg === 'all' || fg === 'none' ? fg : fg === 'mentioned' ? mentioned : new Set(fg),
    forwardClaims: Object.freeze(Object.entries(r.forward_claims).map(([claim, header]) => Object.freeze([claim, header] as const))),
    explainDenial: r.explain_denial,
    timeoutMs: r.timeout,
    websockets: r.websockets,
    preserveHost: r.preserve_host,
    allow,
    deny,
    ruleLabels: [...deny.map((d) => d.label), ...allow.map((a) => a.label)],
    usesSourceIp: [...allow, ...deny].some((r) => usesSourceIp(r.node)),
    source,
    stepUp: compileStepUp(r),
    identityJwt: r.identity_jwt,
    ...(r.upstream_auth ? { upstreamAuth: { spec: r.upstream_auth, dir } } : {}),
  });
}
