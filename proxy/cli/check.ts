import { systemClock } from '../clock.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem, type ConfigProblem } from '../config/problems.js';
import { compileRoutes } from '../policy/compile.js';
import { buildIdentityJwt } from '../server/policy-state.js';
import { resolveCredentials } from '../server/upstream-credentials.js';
import { lintGroupNames } from './group-lint.js';
import { checkMetadata } from './metadata-check.js';
import { lintShadowedRoutes } from './shadow-lint.js';
import { lintStepUp } from './step-up-lint.js';
import { lintServiceAccounts } from './service-account-lint.js';
import { lintSpKeyExpiry } from './sp-key-lint.js';

export interface CheckOptions {
  /** Warnings fail the check too (exit 1). */
  strict?: boolean;
  /** Do not fetch metadata URLs (files are still read). */
  offline?: boolean;
  /** Time allowed per metadata URL (head, then body). Default 5 s. */
  fetchTimeoutMs?: number;
}

/**
 * `gatehouse check --config FILE`: validates the config, every policy file and every IdP's
 * metadata (files read, URLs fetched with a timeout unless `offline`, pinned signatures
 * verified: metadata-check.ts), `upstream_auth` secrets and `identity_jwt` keys (as `serve`
 * reads them), printing every problem at once as `file:line key: message`.
 * Exit 0 when clean, 1 otherwise. A config that validates then gets the group-name lint
 * (group-lint.ts), the shadowed-route lint (shadow-lint.ts), step-up requirements no connection
 * can meet (step-up-lint.ts), SP certificates expiring within 30 days (sp-key-lint.ts) and the
 * metadata warnings (IdP certificates expiring within 30 days, plain-http metadata without a
 * signature pin): warnings
 * fail the check only with `strict`.
 */
export async function runCheck(
  file: string,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
  opts: CheckOptions = {},
): Promise<number> {
  let problems: ConfigProblem[];
  let loaded: LoadedConfig | undefined;
  let metadataWarnings: ConfigProblem[] = [];
  try {
    loaded = loadConfig(file);
    const md = await checkMetadata(loaded, systemClock.now(), { offline: opts.offline === true, timeoutMs: opts.fetchTimeoutMs });
    problems = [...md.problems, ...credentialProblems(loaded), ...identityJwtProblems(loaded)];
    metadataWarnings = md.warnings;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems = e.problems;
  }
  if (problems.length === 0 && loaded) {
    const lint = await lintGroupNames(loaded);
    lint.warnings.push(...lintShadowedRoutes(loaded), ...lintStepUp(loaded), ...lintServiceAccounts(loaded), ...lintSpKeyExpiry(loaded), ...metadataWarnings);
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

/** `upstream_auth` secrets must be readable where `check` runs (as `serve` would read them). */
function credentialProblems(loaded: LoadedConfig): ConfigProblem[] {
  try {
    resolveCredentials(compileRoutes(loaded.policies));
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

/** `identity_jwt` key files must read as EC P-256 keys, and a Redis store needs them (as `serve` checks). */
function identityJwtProblems(loaded: LoadedConfig): ConfigProblem[] {
  try {
    buildIdentityJwt(loaded, compileRoutes(loaded.policies), systemClock);
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}
