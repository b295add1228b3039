import { CliError } from './cli-error.js';
import { credentialsPath, findEntry, readCredentials, updateCredentials, type CredentialEntry } from './credentials-file.js';
import { endpointsOf, refreshAccess, TokenEndpointError } from './token-client.js';

/** An access token is refreshed when it has less than this left. */
export const REFRESH_MARGIN_MS = 60_000;

/** The token endpoint refused the refresh token: the CLI session ended (or was replaced). */
export class SessionEnded extends CliError {
  constructor(issuer: string) {
    super(`your Gatehouse session at ${issuer} has ended: run gatehouse login ${issuer}`);
  }
}

/** The stored sign-in one command works with. */
export interface SignedIn {
  path: string;
  issuer: string;
  entry: CredentialEntry;
}

/** The stored entry for `host` (or the only one). @throws CliError not signed in */
export function signedIn(host?: string, env: NodeJS.ProcessEnv = process.env): SignedIn {
  const path = credentialsPath(env);
  return { path, ...findEntry(readCredentials(path), host) };
}

/** The stored access token while it has more than `marginMs` left. */
export function storedToken(entry: CredentialEntry, now: number, marginMs: number): { token: string; expiresAt: number } | undefined {
  const expiresAt = entry.access_expires_at ? Date.parse(entry.access_expires_at) : NaN;
  if (!entry.access_token || !Number.isFinite(expiresAt) || expiresAt - now < marginMs) return undefined;
  return { token: entry.access_token, expiresAt };
}

/** How long a refresh waits to store its token (a tunnel's event loop waits with it). */
const WRITE_BACK_WAIT_MS = 200;

/**
 * A valid access token: the stored one, or a new one from the refresh token (stored back, so
 * the next command reuses it). `s.entry` is updated in place.
 * @throws SessionEnded the refresh token was refused (run gatehouse login)
 * @throws CliError the Gatehouse is unreachable
 */
export async function freshAccessToken(s: SignedIn, now: () => number = Date.now, marginMs = REFRESH_MARGIN_MS): Promise<{ token: string; expiresAt: number; lifetimeMs?: number }> {
  const stored = storedToken(s.entry, now(), marginMs);
  if (stored) return stored;
  let answer;
  try {
    answer = await refreshAccess(endpointsOf(s.issuer).token_endpoint, s.entry.refresh_token);
  } catch (e) {
    if (e instanceof TokenEndpointError && (e.error === 'invalid_grant' || e.status === 401)) {
      throw new SessionEnded(s.issuer);
    }
    throw e;
  }
  const expiresAt = now() + answer.expires_in * 1000;
  s.entry.access_token = answer.access_token;
  s.entry.access_expires_at = new Date(expiresAt).toISOString();
  // Kept for the next command, best effort: the refresh has worked whatever happens to the file
  // (another command holding its lock a while only costs the next command a refresh).
  try {
    updateCredentials(
      s.path,
      (creds) => {
        const current = creds[s.issuer];
        // Another login may have replaced the entry meanwhile: then leave it alone.
        if (current?.refresh_token === s.entry.refresh_token) {
          current.access_token = answer.access_token;
          current.access_expires_at = s.entry.access_expires_at;
        }
      },
      WRITE_BACK_WAIT_MS,
    );
  } catch {
    /* not stored: see above */
  }
  return { token: answer.access_token, expiresAt, lifetimeMs: answer.expires_in * 1000 };
}
