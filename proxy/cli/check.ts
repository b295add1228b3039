import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/problems.js';
import { isGatehouseError } from '../errors.js';
import { parseIdpMetadata } from '../saml/idp-metadata.js';
import { lintGroupNames } from './group-lint.js';
import { lintShadowedRoutes } from './shadow-lint.js';
import { lintStepUp } from './step-up-lint.js';
import { lintSpKeyExpiry } from './sp-key-lint.js';

export interface CheckOptions {
  /** Warnings fail the check too (exit 1). */
  strict?: boolean;
}

/**
 * `gatehouse check --config FILE`: validates the config, every policy file and every IdP
 * metadata file, printing every problem at once as `file:line key: message`. Exit 0 when clean,
 * 1 otherwise. (Metadata URLs are not fetched: `check` works offline.) A config that validates
 * then gets the group-name lint (group-lint.ts) and the shadowed-route lint (shadow-lint.ts):
 * step-up requirements no connection can meet (step-up-lint.ts) and SP certificates that expire
 * within 30 days (sp-key-lint.ts): their warnings fail the check only with `strict`.
 */
export async function runCheck(
  file: string,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  opts: CheckOptions = {},
): Promise<number> {
  let problems: ConfigProblem[];
  let loaded: LoadedConfig | undefined;
  try {
    loaded = loadConfig(file);
    problems = metadataProblems(loaded);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems = e.problems;
  }
  if (problems.length === 0 && loaded) {
    const lint = await lintGroupNames(loaded);
    lint.warnings.push(...lintShadowedRoutes(loaded), ...lintStepUp(loaded), ...lintSpKeyExpiry(loaded));
    for (const note of lint.notes) out.write(`info: ${note}\n`);
    for (const w of lint.warnings) err.write(`${formatProblem(w)}\n`);
    const warned = lint.warnings.length ? `, ${lint.warnings.length} warning(s)` : '';
    if (warned && opts.strict) {
      err.write(`${lint.warnings.length} warning(s) found (--strict)\n`);
      return 1;
    }
    const routes = loaded.policies.reduce((n, p) => n + p.policy.routes.length, 0);
    out.write(`ok: ${loaded.file}: ${loaded.config.saml.connections.length} connection(s), ${loaded.policies.length} policy file(s), ${routes} route(s)${warned}\n`);
    return 0;
  }
  for (const p of problems) err.write(`${formatProblem(p)}\n`);
  err.write(`${problems.length} problem(s) found\n`);
  return 1;
}

/** Each idp_metadata_file must hold usable IdP metadata: entity ID, Redirect SSO, a signing cert. */
function metadataProblems(loaded: LoadedConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  loaded.config.saml.connections.forEach((c, i) => {
    if (!c.idp_metadata_file) return;
    try {
      parseIdpMetadata(readFileSync(resolve(loaded.dir, c.idp_metadata_file), 'utf8'));
    } catch (e) {
      const why = isGatehouseError(e) ? e.reason : (e as Error).message;
      problems.push({ file: loaded.file, line: 0, key: `saml.connections[${i}].idp_metadata_file`, message: `not usable IdP metadata: ${why}` });
    }
  });
  return problems;
}
