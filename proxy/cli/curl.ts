import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './cli-error.js';
import { mayReceiveToken } from './credentials-file.js';
import { parseCurlArgs, unambiguousHost } from './curl-args.js';
import { freshAccessToken, signedIn } from './fresh-token.js';
import { runChild } from './run-child.js';

/**
 * An open read-only descriptor on a file holding `text`, whose name is already gone: the header
 * reaches curl as `/dev/fd/3` without the token ever being in an argument (`ps`) or at a path
 * another process could open. (A pipe from Node is a socket, which `/dev/fd/N` cannot open.)
 */
function anonymousFile(text: string, env: NodeJS.ProcessEnv): number {
  const dir = mkdtempSync(join(env.XDG_RUNTIME_DIR || tmpdir(), 'gatehouse-curl-'));
  try {
    const path = join(dir, 'header');
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    return openSync(path, 'r');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `gatehouse curl [--host URL] CURL-ARGS…`: runs the system curl with
 * `Proxy-Authorization: Bearer <token>` added. The token goes only to the Gatehouse's own origin
 * or a host the user signed in with, never through a followed redirect; curl's exit code is ours.
 * `-q` (first) keeps ~/.curlrc out: it could add `location` or other URLs behind our back.
 */
export async function runCurl(o: { host?: string; args: string[]; env?: NodeJS.ProcessEnv }): Promise<number> {
  const env = o.env ?? process.env;
  const parsed = parseCurlArgs(o.args);
  if (parsed.urls.length === 0) throw new CliError('gatehouse curl needs a URL (https://…) among its arguments', 2);
  const bad = parsed.urls.find((u) => !/^https?:\/\//i.test(u) || !URL.canParse(u));
  if (bad !== undefined) throw new CliError(`"${bad}" is not a full http(s) URL: write URLs with their scheme (curl would guess one and the host could not be checked)`, 2);
  if (parsed.readsConfig) throw new CliError('-K/--config is not supported: a config file can name hosts that could not be checked', 2);
  const odd = parsed.urls.find((u) => !unambiguousHost(u));
  if (odd !== undefined) throw new CliError(`"${odd}" is refused: user info, "\\", an escape or a space in a URL can make curl connect to another host than the one checked`, 2);
  if (parsed.unknown.length > 0) throw new CliError(`unknown or abbreviated curl option ${parsed.unknown[0]}: write curl's options in full (the host the token goes to must be known)`, 2);
  const elsewhere = parsed.elsewhere.find((name) => name !== 'location' && name !== 'location-trusted');
  if (elsewhere !== undefined) throw new CliError(`gatehouse curl does not take --${elsewhere}: it would send the request, and your token, somewhere else than the URL's host`, 2);
  const s = signedIn(o.host ?? parsed.urls[0], env);
  for (const url of parsed.urls) {
    const origin = new URL(url).origin;
    if (!mayReceiveToken(s.issuer, s.entry, origin)) {
      throw new CliError(`gatehouse curl sends your token only to ${[s.issuer, ...s.entry.hosts.filter((h) => h !== s.issuer)].join(', ')}; not to ${origin} (run gatehouse login ${origin} if it is served by this Gatehouse)`, 2);
    }
  }
  if (parsed.followsRedirects) {
    throw new CliError('gatehouse curl does not follow redirects (-L/--location): curl would send the token to whatever host a redirect names', 2);
  }
  const { token } = await freshAccessToken(s);
  const fd = anonymousFile(`Proxy-Authorization: Bearer ${token}\n`, env);
  let closed = false;
  const close = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  try {
    // A plain-http URL (loopback only) never goes through a proxy from the environment
    // (http_proxy, ALL_PROXY): the proxy would read the token. https tunnels through one (CONNECT).
    const noProxy = parsed.urls.some((u) => u.toLowerCase().startsWith('http:')) ? ['--noproxy', '*'] : [];
    return await runChild(env.GATEHOUSE_CURL || 'curl', ['-q', ...noProxy, '-H', '@/dev/fd/3', ...o.args], { stdio: ['inherit', 'inherit', 'inherit', fd], env }, close);
  } finally {
    close();
  }
}
