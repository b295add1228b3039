import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CookieJar, jarFetch } from './cookie-jar.js';
import { hiddenInput } from './demo-login.js';

/** A PKCE pair (RFC 7636): 32 random bytes as the verifier, its S256 challenge. */
export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** A stand-in for the CLI's loopback listener: records the query of every request it gets. */
export interface Loopback {
  redirectUri: string;
  received: URLSearchParams[];
  close(): Promise<void>;
}

export async function startLoopback(path = '/callback'): Promise<Loopback> {
  const received: URLSearchParams[] = [];
  const server: Server = createServer((req, res) => {
    received.push(new URL(req.url ?? '/', 'http://x').searchParams);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('You can close this tab.');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}${path}`,
    received,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The authorize URL the CLI would open. */
export function authorizeUrl(base: string, o: { redirectUri: string; state: string; challenge: string }, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams({ response_type: 'code', client_id: 'gatehouse-cli', redirect_uri: o.redirectUri, state: o.state, code_challenge: o.challenge, code_challenge_method: 'S256', ...extra });
  return `${base}/.gatehouse/cli/authorize?${q}`;
}

/** The confirm page's form fields (hidden inputs), as the browser would post them. */
export function confirmForm(html: string, decision: 'allow' | 'deny'): URLSearchParams {
  const form = new URLSearchParams();
  for (const name of ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method', 'csrf']) {
    const v = hiddenInput(html, name);
    if (v === undefined) throw new Error(`confirm page lacks ${name}`);
    form.set(name, v);
  }
  form.set('decision', decision);
  return form;
}

/** The browser part of a CLI login: open the page, press a button; returns the POST's answer. */
export async function approve(base: string, jar: CookieJar, url: string, decision: 'allow' | 'deny' = 'allow'): Promise<Response> {
  const page = await jarFetch(jar, url, { headers: { accept: 'text/html' } });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`confirm page answered ${page.status}: ${html}`);
  return jarFetch(jar, `${base}/.gatehouse/cli/authorize`, { method: 'POST', body: confirmForm(html, decision), headers: { accept: 'text/html', origin: base, 'sec-fetch-site': 'same-origin' } });
}

/** POSTs a form to the token (or revocation) endpoint, as the CLI does. */
export async function postForm(url: string, fields: Record<string, string>): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(fields) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

/** What a finished CLI login holds. */
export interface CliTokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  refresh_expires_in: number;
  user: string;
  email?: string;
  groups: string[];
}

/**
 * A whole CLI login for the browser session in `jar`: loopback listener, confirm page, Allow,
 * the redirect followed to the listener, then the code exchanged with its verifier.
 */
export async function cliLogin(base: string, jar: CookieJar): Promise<CliTokens> {
  const lb = await startLoopback();
  try {
    const { verifier, challenge } = pkce();
    const state = randomBytes(16).toString('base64url');
    const posted = await approve(base, jar, authorizeUrl(base, { redirectUri: lb.redirectUri, state, challenge }));
    if (posted.status !== 303) throw new Error(`approve answered ${posted.status}: ${await posted.text()}`);
    await (await fetch(posted.headers.get('location')!)).text();
    const got = lb.received[0]!;
    if (got.get('state') !== state) throw new Error('state differs');
    const res = await postForm(`${base}/.gatehouse/cli/token`, { grant_type: 'authorization_code', code: got.get('code')!, code_verifier: verifier, redirect_uri: lb.redirectUri, client_id: 'gatehouse-cli' });
    if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(res.body)}`);
    return res.body as unknown as CliTokens;
  } finally {
    await lb.close();
  }
}
