import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError } from './cli-error.js';
import { sameSecret } from './pkce.js';

/** The one-shot listener `gatehouse login` waits on for the browser's redirect (RFC 8252 7.3). */
export interface LoopbackCallback {
  /** `http://127.0.0.1:<port>/callback` */
  redirectUri: string;
  /** The authorization code, once a callback with the right state arrived. */
  code: Promise<string>;
  /** Stops listening (also done by itself after the one good callback, a denial or the timeout). */
  close(): void;
}

const CALLBACK_PATH = '/callback';

function page(res: ServerResponse, status: number, title: string, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    connection: 'close',
  });
  res.end(`<!doctype html><meta charset="utf-8"><title>Gatehouse CLI: ${title}</title><body style="font-family:sans-serif;margin:3em"><h1>${title}</h1><p>${text}</p></body>`);
}

/**
 * Listens on 127.0.0.1 only (never a wildcard address: the code must not be reachable from
 * the network) on a port the system picks. Accepts exactly one callback carrying `state`, then
 * closes. A callback with another state is refused and the wait goes on: it is someone else's
 * code pushed at us (login CSRF, RFC 6749 10.12), never exchanged.
 */
export async function startLoopbackCallback(state: string, o: { timeoutMs: number; warn: (line: string) => void }): Promise<LoopbackCallback> {
  let settle: { resolve: (code: string) => void; reject: (e: Error) => void } | undefined;
  const code = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  code.catch(() => undefined); // handled by whoever awaits it; never an unhandled rejection
  let done = false;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (done || req.method !== 'GET' || url.pathname !== CALLBACK_PATH) return page(res, 404, 'Not found', 'Nothing here.');
    if (!sameSecret(url.searchParams.get('state') ?? '', state)) {
      o.warn('gatehouse: refused a callback whose state does not match this login (a sign-in someone else started?); still waiting');
      return page(res, 400, 'Sign-in refused', 'This sign-in was not started by the <code>gatehouse login</code> waiting on this computer (state mismatch). Nothing was signed in.');
    }
    const error = url.searchParams.get('error');
    const got = url.searchParams.get('code');
    if (!error && !got) return page(res, 400, 'Sign-in refused', 'The callback carries no code.');
    done = true;
    res.once('finish', finish);
    if (error) {
      page(res, 200, 'Sign-in cancelled', 'The Gatehouse CLI was not allowed. You can close this tab.');
      settle!.reject(new CliError(error === 'access_denied' ? 'sign-in denied in the browser' : `sign-in failed in the browser: ${error.slice(0, 100)}`));
    } else {
      page(res, 200, 'Signed in', 'The Gatehouse CLI is signed in. You can close this tab and return to the terminal.');
      settle!.resolve(got!);
    }
  });
  const timer = setTimeout(() => {
    done = true;
    finish();
    settle!.reject(new CliError(`no answer from the browser within ${Math.round(o.timeoutMs / 1000)} s; run gatehouse login again`));
  }, o.timeoutMs);
  function finish(): void {
    clearTimeout(timer);
    server.close();
    server.closeAllConnections();
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `http://127.0.0.1:${port}${CALLBACK_PATH}`,
    code,
    close() {
      done = true;
      finish();
      settle!.reject(new CliError('sign-in cancelled'));
    },
  };
}
