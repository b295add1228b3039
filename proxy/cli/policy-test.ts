import { loadPolicySuites, ruleSources } from '../config/load-policy-tests.js';
import { ConfigError, formatProblem } from '../config/problems.js';
import { compileRoutes } from '../policy/compile.js';
import { Coverage, runCase, type CaseResult } from '../policy/policy-cases.js';
import { RouteTable } from '../policy/route-table.js';

/** What `policy test` found, for the report and for tests. */
export interface PolicyTestReport {
  files: { file: string; cases: number; failed: number }[];
  failures: CaseResult[];
  /** Rules that decided no case: route name, label and `file:line` of the rule. */
  uncoveredRules: { route: string; rule: string; at: string }[];
  /** Routes no case was routed to. */
  unreachedRoutes: { route: string; at: string }[];
}

/**
 * Runs every case of every test file, each against the policies its file names, deciding as
 * `serve` does (decideRequest), and gathers the rules and routes no case exercised.
 * @throws ConfigError when a test file or a policy file is unreadable or invalid
 */
export function testPolicies(files: readonly string[], env: NodeJS.ProcessEnv = process.env): PolicyTestReport {
  const report: PolicyTestReport = { files: [], failures: [], uncoveredRules: [], unreachedRoutes: [] };
  const coverage = new Coverage();
  const ruleAt = new Map<string, string>();
  for (const suite of loadPolicySuites(files, env)) {
    const routes = compileRoutes(suite.policies);
    const table = new RouteTable(routes);
    const results = suite.cases.map((c) => runCase(table, c));
    const failed = results.filter((r) => r.wrong.length > 0);
    report.files.push({ file: suite.file, cases: results.length, failed: failed.length });
    report.failures.push(...failed);
    coverage.add(routes, results);
    const lines = ruleSources(suite.policies);
    for (const r of routes) for (const label of r.ruleLabels) ruleAt.set(`${r.source} ${r.name} ${label}`, lines.get(r.name)?.get(label) ?? r.source);
  }
  for (const { route, reached, uncovered } of coverage.report()) {
    if (!reached) report.unreachedRoutes.push({ route: route.name, at: route.source });
    for (const rule of uncovered) report.uncoveredRules.push({ route: route.name, rule, at: ruleAt.get(`${route.source} ${route.name} ${rule}`) ?? route.source });
  }
  return report;
}

/**
 * `gatehouse policy test FILE...`: exit 0 when every case passes, 1 when any fails, 2 when a
 * test or policy file is unreadable or invalid (every problem printed as `file:line key: message`).
 * Rules and routes no case exercised are listed; they do not change the exit code.
 */
export function runPolicyTest(files: readonly string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  let report: PolicyTestReport;
  try {
    report = testPolicies(files);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
    err.write(`${e.problems.length} problem(s) found; no case was run\n`);
    return 2;
  }
  out.write(formatReport(report));
  return report.failures.length ? 1 : 0;
}

/** The human report: one line per file, each failure, what no case covered, a summary. */
export function formatReport(r: PolicyTestReport): string {
  const lines: string[] = [];
  for (const f of r.files) lines.push(f.failed ? `FAIL  ${f.file}  (${f.failed} of ${f.cases} cases failed)` : `ok    ${f.file}  (${f.cases} cases)`);
  for (const failure of r.failures) lines.push('', ...formatFailure(failure));
  if (r.uncoveredRules.length) {
    lines.push('', `rules no case decided (${r.uncoveredRules.length}):`);
    for (const u of r.uncoveredRules) lines.push(`  ${u.route}  ${u.rule}  ${u.at}`);
  }
  if (r.unreachedRoutes.length) {
    lines.push('', `routes no case reached (${r.unreachedRoutes.length}):`);
    for (const u of r.unreachedRoutes) lines.push(`  ${u.route}  ${u.at}`);
  }
  const cases = r.files.reduce((n, f) => n + f.cases, 0);
  const gaps = r.uncoveredRules.length || r.unreachedRoutes.length ? `; not covered: ${r.uncoveredRules.length} rule(s), ${r.unreachedRoutes.length} route(s)` : '; every rule covered';
  lines.push('', `${r.files.length} file(s), ${cases} case(s): ${cases - r.failures.length} passed, ${r.failures.length} failed${gaps}`);
  return `${lines.join('\n')}\n`;
}

function formatFailure({ case: c, got, wrong }: CaseResult): string[] {
  const expected = [c.expect + (c.reasons ? ` (${c.reasons.join(', ')})` : ''), c.route && `route ${c.route}`, c.rule && `rule ${c.rule}`];
  const gotRoute = got.route && `route ${got.route} at ${got.source}`;
  const gotText = [`${got.decision}${got.reasons.length ? ` (${got.reasons.join(', ')})` : ''}`, gotRoute, got.rule && `rule ${got.rule}`];
  return [
    `FAIL  ${c.name}  ${c.at}`,
    `  as:        ${c.who}`,
    `  request:   ${c.request.method} ${c.request.url}${c.source_ip ? ` from ${c.source_ip}` : ''}`,
    `  expected:  ${expected.filter(Boolean).join(', ')}`,
    `  got:       ${gotText.filter(Boolean).join(', ')}${got.allowedMethods ? `, allowed methods ${got.allowedMethods.join(', ')}` : ''}`,
    `  wrong:     ${wrong.join(', ')}`,
  ];
}
