import { freshAccessToken, signedIn } from './fresh-token.js';

/**
 * `gatehouse token [--host URL]`: prints a valid access token on stdout (the stored one, or a
 * refreshed one when less than a minute is left), for `$(gatehouse token)` in scripts.
 */
export async function runToken(o: { host?: string; env?: NodeJS.ProcessEnv; out?: NodeJS.WritableStream }): Promise<number> {
  const { token } = await freshAccessToken(signedIn(o.host, o.env));
  (o.out ?? process.stdout).write(`${token}\n`);
  return 0;
}
