import { CliError } from './cli-error.js';
import { freshAccessToken, signedIn } from './fresh-token.js';
import { runChild } from './run-child.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `gatehouse exec [--host URL] [--env NAME]… -- CMD ARGS…`: runs CMD with `GATEHOUSE_TOKEN` (and
 * each `--env NAME`) set to a fresh access token and `GATEHOUSE_URL` to the issuer. The token is
 * in the environment, never in an argument. It is valid for the token lifetime (15 min by
 * default): long jobs call `gatehouse token` again. Returns CMD's exit code; signals are passed on.
 */
export async function runExec(o: { host?: string; envNames: string[]; command: string[]; env?: NodeJS.ProcessEnv }): Promise<number> {
  const env = o.env ?? process.env;
  if (o.command.length === 0) throw new CliError('gatehouse exec needs a command after --', 2);
  const bad = o.envNames.find((n) => !ENV_NAME.test(n));
  if (bad !== undefined) throw new CliError(`--env ${bad}: not an environment variable name`, 2);
  const s = signedIn(o.host, env);
  const { token } = await freshAccessToken(s);
  const childEnv: NodeJS.ProcessEnv = { ...env, GATEHOUSE_TOKEN: token, GATEHOUSE_URL: s.issuer };
  for (const n of o.envNames) childEnv[n] = token;
  return runChild(o.command[0]!, o.command.slice(1), { stdio: 'inherit', env: childEnv });
}
