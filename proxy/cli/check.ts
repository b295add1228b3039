import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/problems.js';

/**
 * `gatehouse check --config FILE`: validates the config and every policy file, printing every
 * problem at once as `file:line key: message`. Exit 0 when clean, 1 otherwise.
 */
export function runCheck(file: string, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): number {
  try {
    const loaded = loadConfig(file);
    const routes = loaded.policies.reduce((n, p) => n + p.policy.routes.length, 0);
    out.write(`ok: ${loaded.file}: ${loaded.config.saml.connections.length} connection(s), ${loaded.policies.length} policy file(s), ${routes} route(s)\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    for (const p of e.problems) err.write(`${formatProblem(p)}\n`);
    err.write(`${e.problems.length} problem(s) found\n`);
    return 1;
  }
}
