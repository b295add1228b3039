import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { AppContext, RequestScope } from '../context.js';
import { clearCookie, readCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import { sendHtml, sendJson } from '../respond.js';

/**
 * `GET /.gatehouse/logout` shows a confirm button; `POST` ends the session. A GET never logs out
 * (link prefetchers and `<img src>` must not sign people out), and the POST must come from our
 * own page: a same-origin `Origin` header or the session's CSRF token.
 */
export async function handleLogout(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  if (req.method === 'GET' || req.method === 'HEAD') return confirmPage(res, ctx, token);
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'logout-method');
  const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? await readForm(req, 4096) : undefined;
  if (!sameOrigin(req, ctx) && !(token && form && validCsrf(ctx, token, form.get('csrf')))) throw fail('CSRF_REJECTED', 'logout-cross-site');
  const session = await ctx.sessions.open(token);
  await ctx.sessions.destroy(token);
  if (session) ctx.log.info({ [F.event]: EVENTS.logout, [F.requestId]: scope.id, [F.user]: session.identity.user }, 'logout');
  const clear = { 'set-cookie': clearCookie(ctx.cookies, ctx.cookies.session) };
  if (!req.headers.accept?.includes('text/html')) return sendJson(res, 200, { signed_out: true }, clear);
  sendHtml(res, 200, page('Signed out', '<h1>You are signed out</h1><p>Your Gatehouse session has ended.</p><p><a class="button" href="/">Sign in again</a></p>'), clear);
}

function confirmPage(res: ServerResponse, ctx: AppContext, token: string | undefined): void {
  const csrf = token ? `<input type="hidden" name="csrf" value="${esc(ctx.sessions.csrfToken(token))}">` : '';
  sendHtml(res, 200, page('Sign out', `<h1>Sign out of Gatehouse?</h1><form method="post" action="/.gatehouse/logout">${csrf}<button type="submit">Sign out</button></form>`));
}

export function sameOrigin(req: IncomingMessage, ctx: AppContext): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  return origin !== undefined && origin === ctx.publicUrl.origin;
}

function validCsrf(ctx: AppContext, token: string, given: string | null): boolean {
  return given !== null && ctx.sessions.keys.csrfValid(token, given);
}
