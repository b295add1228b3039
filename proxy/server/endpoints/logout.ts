import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { AppContext, RequestScope } from '../context.js';
import { clearCookie, loginCookie, loginNonce, readCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import { cspWithFormAction, redirect, sendHtml, sendJson } from '../respond.js';
import { PATHS } from './paths.js';
import { parseToken } from '../../session/session-keys.js';
import type { Session } from '../../session/types.js';

/**
 * `GET /.gatehouse/logout` shows a confirm button; `POST` ends the session. A GET never logs out
 * (link prefetchers and `<img src>` must not sign people out), and the POST must come from our
 * own page: a same-origin `Origin` header or the session's CSRF token. The local session ends
 * first, whatever happens next; then, when the session's connection does Single Logout, the
 * browser continues to the IdP with our signed LogoutRequest (docs/saml-logout.md).
 */
export async function handleLogout(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  if (req.method === 'GET' || req.method === 'HEAD') return confirmPage(req, res, ctx, token);
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'logout-method');
  const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? await readForm(req, 4096) : undefined;
  if (!sameOrigin(req, ctx) && !(token && form && validCsrf(ctx, token, form.get('csrf')))) throw fail('CSRF_REJECTED', 'logout-cross-site');
  // Only a browser session is signed out here: a CLI or service token pasted into the cookie is
  // nobody's sign-in (it is revoked through its own endpoint), so it is neither ended nor logged
  // out at the IdP; the cookie is cleared all the same.
  const session = await ctx.sessions.openBrowser(token);
  const ended = token ? await endSignIn(ctx, token, session) : { cli: 0 };
  const cliEnded = ended.cli;
  // Logged for a live browser session, and for an idled-out one whose lineage was still ended.
  if (ended.user !== undefined) ctx.log.info({ [F.event]: EVENTS.logout, [F.requestId]: scope.id, [F.user]: ended.user, [F.cliSessionsEnded]: cliEnded }, 'logout');
  const clear = { 'set-cookie': clearCookie(ctx.cookies, ctx.cookies.session) };
  const idpUrl = session ? await continueAtIdp(req, ctx, scope, session) : undefined;
  if (idpUrl) {
    const headers = { 'set-cookie': [clear['set-cookie'], loginCookie(ctx.cookies, idpUrl.nonce)] };
    if (!acceptsHtml(req)) return sendJson(res, 200, { signed_out: true, cli_sessions_ended: cliEnded, idp_logout_url: idpUrl.url }, headers);
    return redirect(res, idpUrl.url, 303, headers);
  }
  if (!acceptsHtml(req)) return sendJson(res, 200, { signed_out: true, cli_sessions_ended: cliEnded }, clear);
  signedOutPage(res, `Your Gatehouse session has ended${cliEnded ? `, with the ${cliEnded === 1 ? 'CLI login' : `${cliEnded} CLI logins`} you approved from it` : ''}.`, clear);
}

/**
 * Ends this browser's sign-in and the CLI sessions it approved (its lineage: a token on a laptop
 * or a GPU box is bound to the sign-in that made it), found through the live session or, once
 * that has idled out, the record the cookie left. The lineage but the cookie's own session
 * first, so a store failing half-way leaves the browser session for a retry to start from; then
 * the cookie's session; then the lineage once more: a code redemption that still saw the browser
 * session made its CLI session before it ended, so this second listing finds it. Counts the CLI
 * sessions ended; `user` is whose sign-in ended (undefined when nothing was found).
 */
async function endSignIn(ctx: AppContext, token: string, session: Session | undefined): Promise<{ cli: number; user?: string }> {
  const record = session ? undefined : await ctx.lineages.read(token);
  const lineage = session?.lineage ?? record?.lineage;
  const user = session?.identity.user ?? record?.user;
  if (!lineage) {
    if (session) await ctx.sessions.destroy(token);
    return { cli: 0, user };
  }
  const first = await ctx.sessionAdmin.revokeLineage(lineage, parseToken(token)?.id);
  if (session) await ctx.sessions.destroy(token);
  const second = await ctx.sessionAdmin.revokeLineage(lineage);
  await ctx.lineages.forget(token);
  return { cli: first.cli + second.cli, user };
}

/** The "signed out" page, with what happened (`text`, escaped). */
export function signedOutPage(res: ServerResponse, text: string, headers: Record<string, string | string[]> = {}): void {
  sendHtml(res, 200, page('Signed out', `<h1>You are signed out</h1><p>${esc(text)}</p><p><a class="button" href="/">Sign in again</a></p>`), headers);
}

/**
 * SP-initiated Single Logout: the signed LogoutRequest URL, bound to this browser's login nonce.
 * A failure here (store down) is logged and leaves the sign-out local: the session is gone already.
 */
async function continueAtIdp(req: IncomingMessage, ctx: AppContext, scope: RequestScope, session: Session): Promise<{ url: string; nonce: string } | undefined> {
  const slo = ctx.singleLogout.get(session.identity.connection);
  if (!slo?.canStart(session.saml)) return undefined;
  const nonce = loginNonce(req.headers.cookie, ctx.cookies);
  try {
    return { url: await slo.startLogout(session.saml, nonce), nonce };
  } catch (err) {
    ctx.log.warn({ [F.event]: EVENTS.logoutFailed, [F.requestId]: scope.id, [F.connection]: slo.conn.id, [F.reason]: 'logout-request-not-sent', err }, 'single logout not started; local session ended');
    return undefined;
  }
}

/**
 * The confirm page. When sign-out will continue at the IdP, its origin is allowed as a form
 * target: browsers apply `form-action` to the redirect that follows the POST.
 */
async function confirmPage(req: IncomingMessage, res: ServerResponse, ctx: AppContext, token: string | undefined): Promise<void> {
  const csrf = token ? `<input type="hidden" name="csrf" value="${esc(ctx.sessions.csrfToken(token, 'logout'))}">` : '';
  const session = await ctx.sessions.openBrowser(token);
  // Scripts and CLIs never get a page (the same rule as the POST's answer): what signing out
  // takes. The CSRF token is as safe here as in the page: only our own origin can read either.
  if (!acceptsHtml(req)) {
    const signOut = { method: 'POST', url: ctx.publicUrl.origin + PATHS.logout, ...(session && token ? { csrf: ctx.sessions.csrfToken(token, 'logout') } : {}) };
    return sendJson(res, 200, { signed_in: session !== undefined, sign_out: signOut, cli: 'gatehouse logout' });
  }
  const idpOrigin = session ? ctx.singleLogout.get(session.identity.connection)?.idpLogoutOrigin(session.saml) : undefined;
  const headers: Record<string, string> = idpOrigin ? { 'content-security-policy': cspWithFormAction(`'self' ${idpOrigin}`) } : {};
  sendHtml(res, 200, page('Sign out', `<h1>Sign out of Gatehouse?</h1><p>This also ends the CLI logins (<code>gatehouse login</code>) you approved from this browser.</p><form method="post" action="${PATHS.logout}">${csrf}<button type="submit">Sign out</button></form>`), headers);
}

/** Logout answers a page only to a client that asks for HTML (a browser); others get JSON. */
function acceptsHtml(req: IncomingMessage): boolean {
  return req.headers.accept?.includes('text/html') === true;
}

export function sameOrigin(req: IncomingMessage, ctx: AppContext): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  return origin !== undefined && origin === ctx.publicUrl.origin;
}

function validCsrf(ctx: AppContext, token: string, given: string | null): boolean {
  return given !== null && ctx.sessions.keys.csrfValid(token, given, 'logout');
}
