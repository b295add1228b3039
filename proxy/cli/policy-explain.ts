import { loadPoliciesOf } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { isGatehouseError } from '../errors.js';
import { parseRequestTarget } from '../path.js';
import { compileRoutes } from '../policy/compile.js';
import { evaluate } from '../policy/evaluate.js';
import { RouteTable } from '../policy/route-table.js';
import type { Identity } from '../policy/types.js';

/** Who is asking, as given on the command line; no identity means an anonymous request. */
export interface ExplainIdentity {
  user?: string;
  email?: string;
  groups: string[];
  connection?: string;
}

/** What `policy explain` found, as printed with --json. */
export interface Explanation {
  request: string;
  decision: 'allow' | 'deny' | 'sign-in' | 'no-route' | 'bad-path';
  route?: string;
  source?: string;
  rule?: string;
  reasons: string[];
  path?: string;
}

/**
 * Decides one request exactly as `serve` would: the same path normalization, route table and
 * evaluation, from the policy files the config names. No secrets, no network.
 */
export function explainRequest(configFile: string, method: string, url: string, who: ExplainIdentity | undefined): Explanation {
  const table = new RouteTable(compileRoutes(loadPoliciesOf(configFile)));
  const target = new URL(url);
  const request = `${method.toUpperCase()} ${target.href}`;
  let path: string;
  try {
    path = parseRequestTarget(target.pathname).path;
  } catch (err) {
    if (!isGatehouseError(err)) throw err;
    return { request, decision: 'bad-path', reasons: [err.reason] };
  }
  const route = table.match(target.host.toLowerCase(), path);
  if (!route) return { request, decision: 'no-route', reasons: ['no-route'], path };
  const identity: Identity | undefined = who && {
    user: who.user ?? who.email ?? 'user',
    email: who.email?.toLowerCase(),
    groups: who.groups,
    connection: who.connection ?? 'any',
  };
  const d = evaluate(route, identity);
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

/** `gatehouse policy explain [--user U] [--email E] [--groups a,b] [--connection C] [--json] METHOD URL`. */
export function runExplain(configFile: string, args: { method: string; url: string; who?: ExplainIdentity; json: boolean }, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let e: Explanation;
  try {
    e = explainRequest(configFile, args.method, args.url, args.who);
  } catch (x) {
    if (!(x instanceof ConfigError)) throw x;
    for (const p of x.problems) err.write(`${formatProblem(p)}\n`);
    return 2;
  }
  if (args.json) out.write(`${JSON.stringify(e)}\n`);
  else {
    out.write(`request:  ${e.request}\n`);
    out.write(`decision: ${e.decision}${e.reasons.length ? ` (${e.reasons.join(', ')})` : ''}\n`);
    if (e.route) out.write(`route:    ${e.route}  ${e.source}\n`);
    if (e.rule) out.write(`rule:     ${e.rule}\n`);
    if (e.path) out.write(`path:     ${e.path}\n`);
  }
  return e.decision === 'allow' ? 0 : 1;
}
