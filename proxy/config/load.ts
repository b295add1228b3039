import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { globSync } from 'tinyglobby';
import { FileDigest } from './file-digest.js';
import { configSchema, SECRET_PATHS, type GatehouseConfig } from './schema.js';
import { policyFileSchema, type PolicyFile } from './policy-schema.js';
import { ConfigError, keyPath, type ConfigProblem } from './problems.js';
import { locate, parseYaml, substituteEnv, validate, type YamlSource } from './yaml-source.js';
import { checkConfigSemantics, checkPolicySemantics, type RawPolicyFile } from './semantics.js';
import { SERVICE_CONNECTION } from './service-account-rules.js';

/** A policy file after validation, with where it came from. */
export interface LoadedPolicyFile {
  file: string;
  policy: PolicyFile;
  /** Line of each route, for explanations and shadowing reports. */
  routeLines: number[];
  /** The parsed file (after ${ENV}), for reports that locate any key (check's group lint). */
  source?: YamlSource;
}

/** Everything Gatehouse reads from disk at startup (and again on reload). */
export interface LoadedConfig {
  file: string;
  dir: string;
  config: GatehouseConfig;
  policies: LoadedPolicyFile[];
  /** The parsed config file, for reports that locate any key. */
  source?: YamlSource;
  /** FileDigest of the bytes parsed: the config file, then each policy file in glob order. */
  digest: string;
}

/**
 * Reads the config file and every policy file it names, reporting every problem at once.
 * @throws ConfigError with all problems (file, line, key, message).
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const path = resolve(file);
  const dir = dirname(path);
  const digest = new FileDigest();
  const src = readSource(path, env, problems, digest);
  if (src) resolveSecretFiles(src, dir, problems);
  const raw = src?.doc.toJS({ maxAliasCount: 100 }) as unknown;
  const config = src ? validate(src, configSchema, problems) : undefined;
  if (src) checkConfigSemantics(raw, src, dir, problems);
  // Policy files are read even when the config itself has problems, so one run shows them all.
  const globs = config?.policies ?? stringList((raw as { policies?: unknown } | undefined)?.policies);
  const origin = src ? { file: src.file, line: locate(src, ['policies']) } : undefined;
  const { files, raw: rawFiles } = loadPolicyFiles(globs, dir, env, problems, origin, digest);
  const connectionIds = new Set(list((raw as { saml?: { connections?: unknown } } | undefined)?.saml?.connections).map((c) => String((c as { id?: unknown })?.id)));
  if (hasServiceAccounts(raw)) connectionIds.add(SERVICE_CONNECTION);
  checkPolicySemantics(rawFiles, connectionIds, problems, claimNamesOf((raw as { saml?: { connections?: unknown } } | undefined)?.saml?.connections));
  if (problems.length || !config) throw new ConfigError(problems);
  return { file: path, dir, config, policies: files, source: src, digest: digest.value() };
}

/**
 * Reads only the policy files a config file names (for policy tools, which need no secrets):
 * the config's own keys are not validated, its policies are, with every problem at once.
 * @throws ConfigError
 */
export function loadPoliciesOf(file: string, env: NodeJS.ProcessEnv = process.env): LoadedPolicyFile[] {
  const problems: ConfigProblem[] = [];
  const path = resolve(file);
  const configProblems: ConfigProblem[] = [];
  const src = readSource(path, env, configProblems);
  // Of the config file, only what stops us finding the policies matters here (not secrets).
  problems.push(...configProblems.filter((p) => p.key === '' || p.key.startsWith('policies')));
  const raw = src?.doc.toJS({ maxAliasCount: 100 }) as { policies?: unknown; saml?: { connections?: unknown } } | undefined;
  const origin = src ? { file: src.file, line: locate(src, ['policies']) } : undefined;
  const { files, raw: rawFiles } = loadPolicyFiles(stringList(raw?.policies), dirname(path), env, problems, origin);
  const connectionIds = new Set(list(raw?.saml?.connections).map((c) => String((c as { id?: unknown })?.id)));
  if (hasServiceAccounts(raw)) connectionIds.add(SERVICE_CONNECTION);
  checkPolicySemantics(rawFiles, connectionIds, problems, claimNamesOf(raw?.saml?.connections));
  if (problems.length) throw new ConfigError(problems);
  return files;
}

/** Reads and validates the policy files; `raw` holds every file that parsed, valid or not. */
export function loadPolicyFiles(
  globs: readonly string[],
  dir: string,
  env: NodeJS.ProcessEnv,
  problems: ConfigProblem[],
  /** Where the globs were written, for "no file matches" problems. */
  origin: { file: string; line: number } = { file: dir, line: 0 },
  /** Collects what was read (for the policy reloader). */
  digest?: FileDigest,
): { files: LoadedPolicyFile[]; raw: RawPolicyFile[] } {
  const out: LoadedPolicyFile[] = [];
  const raw: RawPolicyFile[] = [];
  for (const pattern of globs) {
    const files = globSync(pattern, { cwd: dir, absolute: true, onlyFiles: true }).sort();
    if (files.length === 0) {
      problems.push({ file: origin.file, line: origin.line, key: 'policies', message: `no policy file matches "${pattern}" (relative to ${dir})` });
    }
    for (const f of files) {
      const src = readSource(f, env, problems, digest);
      if (!src) continue;
      const routes = (src.doc.toJS({ maxAliasCount: 100 }) as { routes?: unknown } | null)?.routes;
      const routeList = Array.isArray(routes) ? routes : [];
      const routeLines = routeList.map((_r, i) => locate(src, ['routes', i]));
      raw.push({ file: src.file, routes: routeList, routeLines });
      const policy = validate(src, policyFileSchema, problems);
      if (policy) out.push({ file: src.file, policy, routeLines, source: src });
    }
  }
  return { files: out, raw };
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function readSource(path: string, env: NodeJS.ProcessEnv, problems: ConfigProblem[], digest?: FileDigest): YamlSource | undefined {
  let text: string;
  try {
    const bytes = readFileSync(path);
    digest?.add(path, bytes);
    text = bytes.toString('utf8');
  } catch (err) {
    digest?.addUnreadable(path, (err as NodeJS.ErrnoException).code ?? '');
    problems.push({ file: display(path), line: 0, key: '', message: `cannot read: ${(err as Error).message}` });
    return undefined;
  }
  const src = parseYaml(display(path), text, problems);
  if (src.doc.errors.length) return undefined;
  substituteEnv(src, env, problems);
  return src;
}

/** `secret_file: PATH` beside `secret`: read the file (trailing newline dropped) into `secret`. */
function resolveSecretFiles(src: YamlSource, dir: string, problems: ConfigProblem[]): void {
  for (const path of SECRET_PATHS) {
    const filePath = [...path.slice(0, -1), `${path[path.length - 1]}_file`];
    const ref = src.doc.getIn(filePath);
    if (ref === undefined) continue;
    const line = locate(src, filePath);
    if (src.doc.hasIn(path)) {
      problems.push({ file: src.file, line, key: keyPath(filePath), message: `set either ${path.at(-1)} or ${filePath.at(-1)}, not both` });
      continue;
    }
    try {
      const secret = readFileSync(resolve(dir, String(ref)), 'utf8').replace(/\r?\n$/, '');
      src.doc.setIn(path, secret);
      src.doc.deleteIn(filePath);
    } catch (err) {
      problems.push({ file: src.file, line, key: keyPath(filePath), message: `cannot read secret file: ${(err as Error).message}` });
    }
  }
}

/** Paths relative to the working directory read better in messages. */
function display(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Every claim name any connection keeps (`claims:`), for routes' `forward_claims`. */
function claimNamesOf(connections: unknown): Set<string> {
  return new Set(list(connections).flatMap((c) => Object.keys((c as { claims?: unknown })?.claims ?? {})));
}

/** Service accounts sign in through their own connection, which policies may name. */
function hasServiceAccounts(raw: unknown): boolean {
  const accounts = (raw as { service_accounts?: unknown } | undefined)?.service_accounts;
  return !!accounts && typeof accounts === 'object' && Object.keys(accounts).length > 0;
}
