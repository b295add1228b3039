import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import type { RequestTarget } from '../../path.js';
import { checkRedirectUri, CLI_CLIENT_ID, CODE_TTL_MS, issueCode, validChallenge, type RedirectTarget } from '../../tokens/cli-codes.js';
import { LoginRequired, loginUrl } from '../authorize.js';
import type { AppContext, RequestScope } from '../context.js';
import { readCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import { cspWithFormAction, redirect, sendHtml } from '../respond.js';
import { handleRevoke, handleToken } from './cli-token.js';
import { CLI_PATHS } from './paths.js';

/** What an authorization request asks for, checked. */
interface AuthorizeRequest {
  redirectUri: string;
  target: RedirectTarget;
  state: string;
  challenge: string;
}

/** How long a typed code lives, as the code page says it. */
const CODE_TTL_MINUTES = Math.round(CODE_TTL_MS / 60_000);

const STATE = /^[\x21-\x7e]{1,512}$/;
const PARAMS = ['response_type', 'client_id', 'redirect_uri', 'state', 'code_challenge', 'code_challenge_method'] as const;

/** Dispatches `/.gatehouse/cli/*`. */
export async function handleCli(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  switch (target.path) {
    case CLI_PATHS.authorize:
      return handleAuthorize(req, res, ctx, target);
    case CLI_PATHS.token:
      return handleToken(req, res, ctx, scope);
    case CLI_PATHS.revoke:
      return handleRevoke(req, res, ctx, scope);
    default:
      throw fail('ROUTE_NOT_FOUND', 'no-such-endpoint');
  }
}

/**
 * `GET` shows the confirm page to the signed-in user (no session: sign in first, then back
 * here); only a `POST` from that page (session-bound CSRF token, not cross-site) approves.
 * Only on Gatehouse's own host: an application's scripts on another host must not be able to
 * read the page's CSRF token and approve a login in the user's name.
 */
async function handleAuthorize(req: IncomingMessage, res: ServerResponse, ctx: AppContext, target: RequestTarget): Promise<void> {
  const host = (req.headers.host ?? '').toLowerCase();
  if (host !== ctx.publicUrl.host) throw fail('ROUTE_NOT_FOUND', 'cli-authorize-not-on-public-host');
  const isGet = req.method === 'GET' || req.method === 'HEAD';
  if (!isGet && req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'cli-authorize-method');
  const form = isGet ? new URLSearchParams(target.query.slice(1)) : await readForm(req, 8192);
  const ask = authorizeRequest(form);
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  const session = await ctx.sessions.openBrowser(token);
  if (!session) throw new LoginRequired(loginUrl(ctx, host, isGet ? target : { path: target.path, query: `?${query(form)}` }));
  if (isGet) return confirmPage(res, ctx, ask, session.identity.user, token!);
  // Only our own page posts here: not another site, nor an application host of the same site.
  // (`Origin: null` is what a browser sends from a page with `Referrer-Policy: no-referrer`, as
  // ours are; Sec-Fetch-Site still tells same-origin apart.)
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  if ((site !== undefined && site !== 'same-origin') || (origin !== undefined && origin !== 'null' && origin !== ctx.publicUrl.origin)) throw fail('CSRF_REJECTED', 'cli-authorize-cross-origin');
  const csrf = form.get('csrf');
  if (!csrf || !ctx.sessions.keys.csrfValid(token!, csrf, 'cli-approve')) throw fail('CSRF_REJECTED', 'cli-authorize-csrf');
  if (form.get('decision') !== 'allow') return answer(res, ask, { error: 'access_denied' });
  const code = await issueCode(ctx.stores.logins, { challenge: ask.challenge, redirectUri: ask.redirectUri, browser: token! }, ask.target.kind === 'oob');
  return answer(res, ask, { code });
}

/**
 * Checks every parameter (RFC 6749 4.1.1, RFC 7636 4.3), each present once. A bad request is
 * answered here, never sent to its redirect_uri: that address is not known to be the CLI's.
 */
function authorizeRequest(p: URLSearchParams): AuthorizeRequest {
  const bad = (reason: string) => fail('CLI_REQUEST_INVALID', reason);
  for (const name of PARAMS) if (p.getAll(name).length > 1) throw bad('repeated-parameter');
  const redirectUri = p.get('redirect_uri') ?? '';
  const target = checkRedirectUri(redirectUri);
  if (!target) throw bad('redirect-uri-not-loopback');
  if (p.get('response_type') !== 'code' || p.get('client_id') !== CLI_CLIENT_ID) throw bad('not-a-cli-code-request');
  const challenge = p.get('code_challenge');
  if (p.get('code_challenge_method') !== 'S256' || !validChallenge(challenge)) throw bad('pkce-s256-required');
  const state = p.get('state') ?? '';
  if (!STATE.test(state)) throw bad('state-missing');
  return { redirectUri, target, state, challenge };
}

function query(p: URLSearchParams): string {
  return new URLSearchParams(PARAMS.flatMap((n) => (p.has(n) ? [[n, p.get(n)!]] : []))).toString();
}

/** The confirm page; its CSP lets the form's redirect reach the CLI's loopback listener. */
function confirmPage(res: ServerResponse, ctx: AppContext, ask: AuthorizeRequest, user: string, token: string): void {
  const where = ask.target.kind === 'oob' ? 'in a terminal' : `on this computer (listening on port ${ask.target.port})`;
  const then = ask.target.kind === 'oob' ? ' You will get a code to type into it.' : '';
  const hidden = [...PARAMS.map((n): [string, string] => [n, fieldOf(ask, n)]), ['csrf', ctx.sessions.csrfToken(token, 'cli-approve')] as [string, string]]
    .map(([n, v]) => `<input type="hidden" name="${n}" value="${esc(v)}">`)
    .join('');
  const body =
    `<h1>Sign in the Gatehouse CLI?</h1><p>Allow the Gatehouse CLI ${esc(where)} to act as <strong>${esc(user)}</strong>?${then}</p>` +
    `<p class="muted">Only allow this if you just ran <code>gatehouse login</code> yourself. Never give a code or token to anyone.</p>` +
    `<form method="post" action="${CLI_PATHS.authorize}">${hidden}<button type="submit" name="decision" value="allow">Allow</button> ` +
    `<button type="submit" name="decision" value="deny">Deny</button></form>`;
  const target = ask.target.kind === 'loopback' ? ` ${new URL(ask.redirectUri).origin}` : '';
  sendHtml(res, 200, page('Sign in the CLI', body), { 'content-security-policy': cspWithFormAction(`'self'${target}`) });
}

function fieldOf(ask: AuthorizeRequest, name: (typeof PARAMS)[number]): string {
  const values = { response_type: 'code', client_id: CLI_CLIENT_ID, redirect_uri: ask.redirectUri, state: ask.state, code_challenge: ask.challenge, code_challenge_method: 'S256' };
  return values[name];
}

/** 303 to the loopback listener with the code (or the refusal), or for oob a page showing it. */
function answer(res: ServerResponse, ask: AuthorizeRequest, result: { code: string } | { error: 'access_denied' }): void {
  if (ask.target.kind === 'loopback') {
    const q = new URLSearchParams({ ...result, state: ask.state });
    return redirect(res, `${ask.redirectUri}?${q.toString()}`, 303);
  }
  if ('error' in result) return sendHtml(res, 200, page('CLI sign-in denied', '<h1>CLI sign-in denied</h1><p>The Gatehouse CLI was not signed in. You can close this tab.</p>'));
  const body =
    `<h1>Your CLI sign-in code</h1><p>Type this code into the terminal where you ran <code>gatehouse login</code>:</p>` +
    `<p style="font-size:1.6rem"><code id="code">${esc(result.code)}</code></p><p class="muted">It works once, within ${CODE_TTL_MINUTES} minutes. Never give it to anyone.</p>`;
  sendHtml(res, 200, page('CLI sign-in code', body));
}
