import { isIP } from 'node:net';
import { loadPoliciesOf } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { compileRoutes } from '../policy/compile.js';
import { decideRequest, type Explanation } from '../policy/decide-request.js';
import { RouteTable } from '../policy/route-table.js';
import type { Identity } from '../policy/types.js';

/** Who is asking, as given on the command line; no identity means an anonymous request. */
export interface ExplainIdentity {
  user?: string;
  email?: string;
  groups: string[];
  connection?: string;
}

/**
 * Decides one request exactly as `serve` would, from the policy files the config names.
 * No secrets, no network.
 */
export function explainRequest(configFile: string, method: string, url: string, who: ExplainIdentity | undefined, sourceIp?: string): Explanation {
  const table = new RouteTable(compileRoutes(loadPoliciesOf(configFile)));
  const identity: Identity | undefined = who && {
    user: who.user ?? who.email ?? 'user',
    email: who.email?.toLowerCase(),
    groups: who.groups,
    connection: who.connection ?? 'any',
  };
  return decideRequest(table, { method, url, identity, sourceIp });
}

/** `gatehouse policy explain [--user U] [--email E] [--groups a,b] [--connection C] [--source-ip IP] [--json] METHOD URL`. */
export function runExplain(configFile: string, args: { method: string; url: string; who?: ExplainIdentity; sourceIp?: string; json: boolean }, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  const bad = badArgument(args);
  if (bad) {
    err.write(`gatehouse policy explain: ${bad}\n`);
    return 2;
  }
  let e: Explanation;
  try {
    e = explainRequest(configFile, args.method, args.url, args.who, args.sourceIp);
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
    if (e.allowedMethods) out.write(`methods:  ${e.allowedMethods.join(', ')}\n`);
  }
  return e.decision === 'allow' ? 0 : 1;
}

/** What is wrong with the command line, if anything (exit 2 rather than a decision). */
function badArgument(args: { method: string; url: string; sourceIp?: string }): string | undefined {
  if (!URL.canParse(args.url) || !/^https?:$/.test(new URL(args.url).protocol)) return `"${args.url}" is not an absolute http(s) URL (e.g. https://host/path)`;
  if (!/^[A-Za-z][A-Za-z-]{0,19}$/.test(args.method)) return `"${args.method}" is not an HTTP method`;
  if (args.sourceIp !== undefined && isIP(args.sourceIp) === 0) return `--source-ip "${args.sourceIp}" is not an IP address`;
  return undefined;
}
