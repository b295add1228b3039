import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path';
import { escapePath } from 'tinyglobby';
import { loadPoliciesOf, loadPolicyFiles, type LoadedPolicyFile } from './load.js';
import { ANONYMOUS, identitiesFileSchema, testFileSchema, type IdentitiesFile, type IdentitySpec, type TestCaseSpec } from './policy-test-schema.js';
import { ConfigError, type ConfigProblem } from './problems.js';
import { checkPolicySemantics } from './semantics.js';
import { locate, parseYaml, validate, type YamlSource } from './yaml-source.js';

/** One case of a test file, with where it stands. */
export interface PolicyCase extends TestCaseSpec {
  /** `file:line` of the case. */
  at: string;
  /** The identity name, `anonymous`, or `(inline)`. */
  who: string;
  /** The identity to decide as; undefined for anonymous. */
  identity?: IdentitySpec;
}

/** A test file, read and checked, with the policies it tests. */
export interface PolicySuite {
  file: string;
  policies: LoadedPolicyFile[];
  cases: PolicyCase[];
}

/**
 * Reads `policy test` files and the policies each names, reporting every problem of every file
 * at once (unknown keys, unknown identities, routes or rules a case names that do not exist).
 * @throws ConfigError
 */
export function loadPolicySuites(files: readonly string[], env: NodeJS.ProcessEnv = process.env): PolicySuite[] {
  const problems: ConfigProblem[] = [];
  const suites = files.flatMap((f) => {
    const suite = loadSuite(resolve(f), env, problems);
    return suite ? [suite] : [];
  });
  if (problems.length) throw new ConfigError(problems);
  return suites;
}

function loadSuite(path: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): PolicySuite | undefined {
  const src = readYaml(path, problems);
  const spec = src && validate(src, testFileSchema, problems);
  if (!src || !spec) return undefined;
  const dir = dirname(path);
  const before = problems.length;
  let policies: LoadedPolicyFile[] = [];
  if (spec.config !== undefined) {
    const config = resolve(dir, spec.config);
    if (!existsSync(config)) problems.push({ file: src.file, line: locate(src, ['config']), key: 'config', message: `file not found: ${spec.config} (relative to this file)` });
    else policies = policiesOfConfig(config, env, problems);
  } else {
    policies = loadPolicySet(spec.policies ?? [], dir, env, problems, { file: src.file, line: locate(src, ['policies']) });
  }
  const cases = spec.cases.map((c, i): PolicyCase => {
    const who = typeof c.as === 'string' ? c.as : '(inline)';
    const identity = typeof c.as !== 'string' ? c.as : Object.hasOwn(spec.identities, c.as) ? spec.identities[c.as] : undefined;
    return { ...c, at: `${src.file}:${locate(src, ['cases', i])}`, who, identity };
  });
  if (problems.length === before) checkCases(src, spec.identities, cases, policies, problems);
  return { file: src.file, policies, cases };
}

function policiesOfConfig(config: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): LoadedPolicyFile[] {
  try {
    return loadPoliciesOf(config, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
    return [];
  }
}

/** Names a case uses must exist: identities, routes, and rules of that route. */
function checkCases(src: YamlSource, identities: Record<string, IdentitySpec>, cases: PolicyCase[], policies: LoadedPolicyFile[], problems: ConfigProblem[]): void {
  const routes = new Map(policies.flatMap((f) => f.policy.routes.map((r) => [r.name, r] as const)));
  const names = new Set<string>();
  cases.forEach((c, i) => {
    const at = (key: string, message: string) => problems.push({ file: src.file, line: locate(src, ['cases', i, key]), key: `cases[${i}].${key}`, message });
    if (names.has(c.name)) at('name', `another case is named "${c.name}"`);
    names.add(c.name);
    if (typeof c.as === 'string' && c.as !== ANONYMOUS && !Object.hasOwn(identities, c.as)) at('as', `no identity "${c.as}" (name one under identities, or write anonymous)`);
    if (c.rule !== undefined && c.expect !== 'allow' && c.expect !== 'deny') at('rule', `a ${c.expect} decision has no deciding rule`);
    if (c.route !== undefined && (c.expect === 'no-route' || c.expect === 'bad-path' || c.expect === 'method-not-allowed' || c.expect === 'reserved')) at('route', `a ${c.expect} decision has no route`);
    const route = c.route === undefined ? undefined : routes.get(c.route);
    if (c.route !== undefined && !route) at('route', `no route "${c.route}" in the policies under test`);
    if (route && c.rule !== undefined) {
      const labels = [...route.deny.map((_r, j) => `deny[${j}]`), ...route.allow.map((_r, j) => `allow[${j}]`)];
      if (!labels.includes(c.rule)) at('rule', `route "${route.name}" has no rule ${c.rule} (it has ${labels.join(', ')})`);
    }
  });
}

/**
 * Reads policy files named by globs (relative to `dir`) with the cross-file checks of `check`. Connection names are not checked:
 * without a config there are none to check them against.
 */
function loadPolicySet(globs: readonly string[], dir: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[], origin: { file: string; line: number }): LoadedPolicyFile[] {
  const { files, raw } = loadPolicyFiles(globs, dir, env, problems, origin);
  const crossFile: ConfigProblem[] = [];
  checkPolicySemantics(raw, new Set(), crossFile);
  problems.push(...crossFile.filter((p) => !p.key.endsWith('.connections')));
  return files;
}

/**
 * The policies at a path: one policy file, or every `*.yaml` directly in a directory (not its
 * sub-directories), as `policy diff` takes them.
 * @throws ConfigError
 */
export function loadPolicyPath(path: string, env: NodeJS.ProcessEnv = process.env): LoadedPolicyFile[] {
  const problems: ConfigProblem[] = [];
  const full = resolve(path);
  const isDir = existsSync(full) && statSync(full).isDirectory();
  if (!existsSync(full)) problems.push({ file: display(full), line: 0, key: '', message: 'no such file or directory' });
  const files = problems.length ? [] : loadPolicySet(isDir ? ['*.yaml'] : [escapePath(basename(full))], isDir ? full : dirname(full), env, problems, { file: display(full), line: 0 });
  if (problems.length) throw new ConfigError(problems);
  return files;
}

/**
 * Reads a `policy diff --identities` file.
 * @throws ConfigError
 */
export function loadIdentitiesFile(path: string): IdentitiesFile {
  const problems: ConfigProblem[] = [];
  const src = readYaml(resolve(path), problems);
  const spec = src && validate(src, identitiesFileSchema, problems);
  if (!spec || problems.length) throw new ConfigError(problems);
  return spec;
}

/**
 * `file:line` of every top-level rule, by route name then label (`allow[1]`), for coverage
 * reports. Reads the files again: lines of rules are not kept by the loader.
 */
export function ruleSources(files: readonly LoadedPolicyFile[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const f of files) {
    const src = readYaml(resolve(f.file), []);
    f.policy.routes.forEach((r, i) => {
      const labels = new Map<string, string>();
      for (const kind of ['deny', 'allow'] as const) {
        r[kind].forEach((_rule, j) => labels.set(`${kind}[${j}]`, `${f.file}:${src ? locate(src, ['routes', i, kind, j]) : (f.routeLines[i] ?? 0)}`));
      }
      out.set(r.name, labels);
    });
  }
  return out;
}

function readYaml(path: string, problems: ConfigProblem[]): YamlSource | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push({ file: display(path), line: 0, key: '', message: `cannot read: ${(err as Error).message}` });
    return undefined;
  }
  const src = parseYaml(display(path), text, problems);
  return src.doc.errors.length ? undefined : src;
}

/** Paths relative to the working directory read better in messages (as load.ts shows them). */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
