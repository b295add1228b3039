import { readCredentials, updateCredentials } from './credentials-file.js';
import { signedIn } from './fresh-token.js';
import { endpointsOf, revokeToken } from './token-client.js';

/**
 * `gatehouse logout [--host URL]`: revokes the refresh token (which ends the CLI session and
 * every access token made from it, on every instance), then forgets the entry: also when the
 * Gatehouse cannot be reached, saying so (the session then ends at its own expiry).
 */
export async function runLogout(o: { host?: string; env?: NodeJS.ProcessEnv; out?: NodeJS.WritableStream; err?: NodeJS.WritableStream }): Promise<number> {
  const s = signedIn(o.host, o.env);
  let revoked = true;
  try {
    await revokeToken(endpointsOf(s.issuer).revocation_endpoint, s.entry.refresh_token);
  } catch (e) {
    revoked = false;
    (o.err ?? process.stderr).write(`gatehouse: could not revoke at ${s.issuer} (${(e as Error).message}); forgetting the tokens here anyway\n`);
  }
  if (readCredentials(s.path)[s.issuer]) {
    updateCredentials(s.path, (creds) => {
      delete creds[s.issuer];
    });
  }
  (o.out ?? process.stdout).write(`Signed out of ${s.issuer}${revoked ? '' : ' on this computer only'}\n`);
  return revoked ? 0 : 1;
}
