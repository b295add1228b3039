import { CLI_CLIENT_ID, OOB_REDIRECT } from '../tokens/cli-codes.js';
import { CliError } from './cli-error.js';
import { credentialsPath, originOf, readCredentials, updateCredentials } from './credentials-file.js';
import { startLoopbackCallback, type LoopbackCallback } from './loopback-callback.js';
import { browserCommand, isHeadless, openBrowser } from './open-browser.js';
import { createPkce, createState } from './pkce.js';
import { readCode } from './read-code.js';
import { discover, exchangeCode, issuerVouchesFor, revokeToken } from './token-client.js';

/** How long `gatehouse login` waits for the browser. */
export const LOGIN_TIMEOUT_MS = 5 * 60_000;

/** What `gatehouse login` was asked. */
export interface LoginOptions {
  url: string;
  noBrowser?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: NodeJS.ReadableStream;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
}

/**
 * `gatehouse login URL`: discovery, PKCE + state, the browser approves, the code comes back on
 * the loopback listener (or is typed in, headless), is exchanged, and the tokens are stored.
 */
export async function runLogin(o: LoginOptions): Promise<number> {
  const env = o.env ?? process.env;
  const out = o.out ?? process.stdout;
  const err = o.err ?? process.stderr;
  const timeoutMs = o.timeoutMs ?? LOGIN_TIMEOUT_MS;
  const host = originOf(o.url);
  const disc = await discover(host);
  // A host whose document names another issuer must be vouched for by that issuer: otherwise any
  // site copying the real document would be remembered and sent tokens by curl and tunnel.
  if (host !== disc.issuer && !(await issuerVouchesFor(disc.issuer, host))) {
    throw new CliError(`${host} is not a host the Gatehouse at ${disc.issuer} names (its own, or a route's host:); sign in with: gatehouse login ${disc.issuer}`);
  }
  // The file must be usable before anyone signs in (mode, shape): not after a session exists.
  readCredentials(credentialsPath(env));
  const pkce = createPkce();
  const state = createState();
  // No browser on this machine (SSH, a container, a JupyterHub terminal): the code is typed in,
  // since a loopback redirect would reach the computer the browser runs on, not this one.
  // (`GATEHOUSE_BROWSER=none` only stops opening one: the URL is printed, the listener waits.)
  const noBrowserHere = env.GATEHOUSE_BROWSER !== 'none' && browserCommand('about:blank', env) === undefined;
  const headless = o.noBrowser === true || isHeadless(env) || noBrowserHere;
  let callback: LoopbackCallback | undefined;
  try {
    if (!headless) callback = await startLoopbackCallback(state, { timeoutMs, warn: (l) => err.write(`${l}\n`) });
    const redirectUri = callback?.redirectUri ?? OOB_REDIRECT;
    const authorize = new URL(disc.authorization_endpoint);
    for (const [k, v] of Object.entries({ response_type: 'code', client_id: CLI_CLIENT_ID, redirect_uri: redirectUri, state, code_challenge: pkce.challenge, code_challenge_method: pkce.method })) {
      authorize.searchParams.set(k, v);
    }
    const opened = !headless && openBrowser(authorize.href, env);
    out.write(opened ? 'Opened your browser to sign in. If it did not open, visit:\n' : 'Open this URL in a browser to sign in:\n');
    out.write(`${authorize.href}\n`);
    const code = callback ? await callback.code : await readCode(o.input ?? process.stdin, out, timeoutMs);
    const tokens = await exchangeCode(disc.token_endpoint, { code, verifier: pkce.verifier, redirectUri });
    const user = tokens.user ?? tokens.email ?? 'unknown';
    let replaced: string | undefined;
    try {
      updateCredentials(credentialsPath(env), (creds) => {
        const before = creds[disc.issuer];
        if (before && before.refresh_token !== tokens.refresh_token) replaced = before.refresh_token;
        creds[disc.issuer] = {
          refresh_token: tokens.refresh_token,
          access_token: tokens.access_token,
          access_expires_at: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
          user,
          hosts: [...new Set([...(before?.hosts ?? []), host])],
        };
      });
    } catch (e) {
      // Not stored: the CLI session just made would live on with nobody able to use or end it.
      await revokeToken(disc.revocation_endpoint, tokens.refresh_token).catch(() => undefined);
      throw e;
    }
    // Signing in again ends the CLI session it replaces (best effort: it ends by itself anyway).
    if (replaced) await revokeToken(disc.revocation_endpoint, replaced).catch(() => undefined);
    out.write(`Signed in to ${disc.issuer} as ${user}\n`);
    return 0;
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`sign-in failed: ${(e as Error).message}`);
  } finally {
    callback?.close();
  }
}
