import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import type { RequestTarget } from '../../path.js';
import type { AppContext } from '../context.js';
import { loginHint } from '../error-body.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import { redirect, sendHtml, sendJson, wantsPage } from '../respond.js';
import { checkReturnTo } from '../return-to.js';
import { PATHS, samlPaths } from './paths.js';

const MAX_FORM_BYTES = 8192;
/** The one answer for any address whose domain no connection claims: it names no domain or connection. */
const UNKNOWN_DOMAIN = 'No sign-in is set up for that email address. Choose your identity provider below, or ask your administrator.';

/**
 * `/.gatehouse/sign-in?rd=…`: where browsers land to sign in when there is more than one
 * connection. GET shows one button per connection (display_name) and, when some connection
 * claims `email_domains`, an email field; POSTing it (home-realm discovery) sends the user to the
 * connection that claims the address's domain. The form carries nothing a forged post could
 * misuse: its only effect is a redirect to our own login start, with `rd` checked again.
 */
export async function handleSignIn(req: IncomingMessage, res: ServerResponse, ctx: AppContext, target: RequestTarget): Promise<void> {
  if (req.method === 'GET' || req.method === 'HEAD') {
    const rd = returnTarget(new URLSearchParams(target.query.slice(1)).get('rd'), ctx);
    if (!wantsPage(req)) return sendJson(res, 200, signInChoices(ctx, rd));
    return sendHtml(res, 200, signInPage(ctx, rd));
  }
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'sign-in-method');
  const form = await readForm(req, MAX_FORM_BYTES);
  const rd = returnTarget(form.get('rd'), ctx);
  const email = (form.get('email') ?? '').trim().slice(0, 320);
  const connection = ctx.domains.route(email);
  if (connection === undefined) {
    if (!wantsPage(req)) return sendJson(res, 200, { connection: null, message: UNKNOWN_DOMAIN });
    return sendHtml(res, 200, signInPage(ctx, rd, { email, message: UNKNOWN_DOMAIN }));
  }
  redirect(res, loginPath(connection, rd), 303);
}

/** The checked return target, or `/` (the page never refuses: it is where lost users land). */
function returnTarget(rd: string | null, ctx: AppContext): string {
  return checkReturnTo(rd ?? '/', ctx.publicUrl, ctx.routeHosts) ?? '/';
}

function loginPath(connection: string, rd: string): string {
  return `${samlPaths(connection).login}?rd=${encodeURIComponent(rd)}`;
}

/** What a script or CLI gets instead of the page (never HTML): the same choices, as JSON. */
function signInChoices(ctx: AppContext, rd: string): Record<string, unknown> {
  const origin = ctx.publicUrl.origin;
  const connections = [...ctx.connections.values()].map((sp) => ({ id: sp.conn.id, name: sp.conn.display_name ?? sp.conn.id, login_url: origin + loginPath(sp.conn.id, rd) }));
  return { connections, email_discovery: ctx.domains.size > 0, login: loginHint(origin, undefined) };
}

function signInPage(ctx: AppContext, rd: string, shown: { email?: string; message?: string } = {}): string {
  const discovery =
    ctx.domains.size === 0
      ? ''
      : `<form method="post" action="${PATHS.signin}"><input type="hidden" name="rd" value="${esc(rd)}">` +
        `<p><label for="email">Work email</label><br><input id="email" name="email" type="email" autocomplete="username" required maxlength="320" value="${esc(shown.email ?? '')}"> ` +
        `<button type="submit">Continue</button></p></form>` +
        (shown.message ? `<p role="alert">${esc(shown.message)}</p>` : '') +
        '<p class="muted">Or choose your identity provider:</p>';
  const buttons = [...ctx.connections.values()]
    .map((sp) => `<p><a class="button" href="${esc(loginPath(sp.conn.id, rd))}">${esc(sp.conn.display_name ?? sp.conn.id)}</a></p>`)
    .join('');
  const intro = ctx.domains.size === 0 ? '<p>Choose your identity provider.</p>' : '';
  return page('Sign in', `<h1>Sign in</h1>${intro}${discovery}${buttons}`);
}
