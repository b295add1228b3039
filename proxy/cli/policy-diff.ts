import { loadIdentitiesFile, loadPolicyPath } from '../config/load-policy-tests.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/problems.js';
import { diffAccess, type AccessChange, type Asker, type Side } from '../policy/access-diff.js';
import { compileRoutes } from '../policy/compile.js';
import { toIdentity } from '../policy/policy-cases.js';
import { probeRequests } from '../policy/probes.js';
import { RouteTable } from '../policy/route-table.js';

/** What changes between two policy sets, for the report, `--json` and tests. */
export interface PolicyDiff {
  /** How many requests were probed, for each identity. */
  requests: number;
  /** Who was asked about, `anonymous` first. */
  identities: string[];
  changes: AccessChange[];
}

/**
 * Decides every (identity, request) under OLD and NEW. Requests come from both policy sets
 * (see probeRequests) plus the identities file's `requests`; identities are the file's plus
 * anonymous. OLD and NEW are each a policy file or a directory of `*.yaml` policy files.
 * @throws ConfigError with every problem of every input
 */
export function diffPolicies(oldPath: string, newPath: string, identitiesFile: string, env: NodeJS.ProcessEnv = process.env): PolicyDiff {
  const problems: ConfigProblem[] = [];
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
      return undefined;
    }
  };
  const before = attempt(() => loadPolicyPath(oldPath, env));
  const after = attempt(() => loadPolicyPath(newPath, env));
  const people = attempt(() => loadIdentitiesFile(identitiesFile));
  if (problems.length || !before || !after || !people) throw new ConfigError(problems);
  const routesBefore = compileRoutes(before);
  const routesAfter = compileRoutes(after);
  const probes = probeRequests([...routesBefore, ...routesAfter], people.requests);
  const names = Object.keys(people.identities).sort();
  const askers: Asker[] = [{ name: 'anonymous' }, ...names.map((name) => ({ name, identity: toIdentity(name, people.identities[name]!) }))];
  const changes = diffAccess(new RouteTable(routesBefore), new RouteTable(routesAfter), askers, probes);
  return { requests: probes.length, identities: askers.map((a) => a.name), changes };
}

/**
 * `gatehouse policy diff OLD NEW --identities FILE [--json]`: who gains and who loses access to
 * what. Exit 0 when nothing changes, 1 when something does (so CI can flag it), 2 on problems
 * with the inputs (printed as `file:line key: message`).
 */
export function runPolicyDiff(args: { old: string; new: string; identities: string; json: boolean }, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let diff: PolicyDiff;
  try {
    diff = diffPolicies(args.old, args.new, args.identities);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
    err.write(`${e.problems.length} problem(s) found\n`);
    return 2;
  }
  out.write(args.json ? `${JSON.stringify(toJson(diff))}\n` : formatDiff(diff));
  return diff.changes.length ? 1 : 0;
}

const SIGN = { gain: '+', loss: '-', change: '~' } as const;

/** One line per change (`+ dana  POST https://...  deny (...) -> allow (...)`), then a summary. */
export function formatDiff(d: PolicyDiff): string {
  const who = Math.max(0, ...d.changes.map((c) => c.who.length));
  const req = Math.max(0, ...d.changes.map((c) => c.method.length + 1 + c.url.length));
  const lines = d.changes.map((c) => {
    const upstreams = c.before.upstream !== undefined && c.after.upstream !== undefined && c.before.upstream !== c.after.upstream;
    return `${SIGN[c.kind]} ${c.who.padEnd(who)}  ${`${c.method} ${c.url}`.padEnd(req)}  ${describe(c.before, upstreams)} -> ${describe(c.after, upstreams)}`;
  });
  const count = (k: AccessChange['kind']) => d.changes.filter((c) => c.kind === k).length;
  const scope = `${d.requests} request(s) x ${d.identities.length} identities (${d.identities.join(', ')})`;
  lines.push(d.changes.length ? `${lines.length ? '\n' : ''}${count('gain')} gained, ${count('loss')} lost, ${count('change')} other change(s); ${scope}` : `no change: ${scope} decided the same`);
  return `${lines.join('\n')}\n`;
}

/** `allow (route, allow[1])`, `deny (route, deny[0]: reasons)`, `sign-in (route)`, `no-route`... */
function describe(s: Side, withUpstream: boolean): string {
  const detail: string[] = [];
  if (s.route) detail.push(s.route);
  if (s.rule) detail.push(s.rule);
  let text = detail.join(', ');
  if (s.decision === 'allow' && withUpstream) text += ` to ${s.upstream}`;
  if (s.decision === 'deny' || s.decision === 'bad-path') text += `${text ? ': ' : ''}${s.reasons.join(', ')}`;
  if (s.decision === 'method-not-allowed') text = `allows ${(s.allowedMethods ?? []).join(', ')}`;
  return text ? `${s.decision} (${text})` : s.decision;
}

function toJson(d: PolicyDiff): unknown {
  const side = (s: Side) => ({ decision: s.decision, route: s.route, rule: s.rule, reasons: s.reasons, upstream: s.upstream, allowed_methods: s.allowedMethods });
  const count = (k: AccessChange['kind']) => d.changes.filter((c) => c.kind === k).length;
  return {
    requests: d.requests,
    identities: d.identities,
    summary: { gained: count('gain'), lost: count('loss'), changed: count('change') },
    changes: d.changes.map((c) => ({ kind: c.kind, who: c.who, method: c.method, url: c.url, before: side(c.before), after: side(c.after) })),
  };
}
