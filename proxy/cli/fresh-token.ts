import { CliError } from './cli-error.js';
import { credentialsPath, findEntry, readCredentials, updateCredentials, type CredentialEntry } from './credentials-file.js';
import { endpointsOf, refreshAccess, TokenEndpointError } from './token-client.js';

/** An access token is refreshed when it has less than this left. */
export const REFRESH_MARGIN_MS = 60_000;

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
function storedToken(entry: CredentialEntry, now: number, marginMs: number): { token: string; expiresAt: number } | undefined {
  const expiresAt = entry.access_expires_at ? Date.parse(entry.access_expires_at) : NaN;
  if (!entry.access_token || !Number.isFinite(expiresAt) || expiresAt - now < marginMs) return undefined;
  return { token: entry.access_token, expiresAt };
}

/**
 * A valid access token: the stored one, or a new one from the refresh token (stored back, so
 * the next command reuses it). `s.entry` is updated in place.
 * @throws CliError the session ended (run gatehouse login) or the Gatehouse is unreachable
 */
export async function freshAccessToken(s: SignedIn, now: () => number = Date.now, marginMs = REFRESH_MARGIN_MS): Promise<{ token: string; expiresAt: number; lifetimeMs?: number }> {
  const stored = storedToken(s.entry, now(), marginMs);
  if (stored) return stored;
  let answer;
  try {
    answer = await refreshAccess(endpointsOf(s.issuer).token_endpoint, s.entry.refresh_token);
  } catch (e) {
    if (e instanceof TokenEndpointError && (e.error === 'invalid_grant' || e.status === 401)) {
      throw new CliError(`your Gatehouse session at ${s.issuer} has ended: run gatehouse login ${s.issuer}`);
    }
    throw e;
  }
  const expiresAt = now() + answer.expires_in * 1000;
  s.entry.access_token = answer.access_token;
  s.entry.access_expires_at = new Date(expiresAt).toISOString();
  updateCredentials(s.path, (creds) => {
    const current = creds[s.issuer];
    // Another login may have replaced the entry meanwhile: then leave it alone.
    if (current?.refresh_token === s.entry.refresh_token) {
      current.access_token = answer.access_token;
      current.access_expires_at = s.entry.access_expires_at;
    }
  });
  return { token: answer.access_token, expiresAt, lifetimeMs: answer.expires_in * 1000 };
}

/**
 * Keeps one access token fresh for a long-running command (the tunnel): refreshes before the
 * margin, one refresh at a time however many requests ask. Once it has seen a token's lifetime,
 * the margin is at most a quarter of it, so short tokens (`tokens.access_ttl: 1m`) are used
 * for most of their life instead of being refreshed for every request.
 */
export class TokenKeeper {
  private pending: Promise<string> | undefined;
  private marginMs = REFRESH_MARGIN_MS;

  constructor(
    private readonly s: SignedIn,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token valid for at least the margin more. */
  get(): Promise<string> {
    const stored = storedToken(this.s.entry, this.now(), this.marginMs);
    if (stored) return Promise.resolve(stored.token);
    this.pending ??= freshAccessToken(this.s, this.now, this.marginMs)
      .then((t) => {
        if (t.lifetimeMs) this.marginMs = Math.min(REFRESH_MARGIN_MS, t.lifetimeMs / 4);
        return t.token;
      })
      .finally(() => {
        this.pending = undefined;
      });
    return this.pending;
  }
}
