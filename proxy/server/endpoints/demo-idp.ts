import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import type { AppContext } from '../context.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import type { RequestTarget } from '../../path.js';
import { PAGE_HEADERS, sendHtml } from '../respond.js';
import { PATHS } from './paths.js';

const BANNER = '<p class="demo"><strong>Demo IdP — for local trial only.</strong> Anyone can pick any user here. Never use it in production.</p>';

const SSO_PATH = `${PATHS.demoIdp}sso`;

/** `/.gatehouse/demo-idp/sso`: GET shows a user picker, POST answers our SP with a signed response. */
export async function handleDemoIdp(req: IncomingMessage, res: ServerResponse, ctx: AppContext, target: RequestTarget): Promise<void> {
  const idp = ctx.demoIdp;
  if (!idp || target.path !== SSO_PATH) throw fail('ROUTE_NOT_FOUND', 'demo-idp-off');
  if (req.method === 'GET') {
    const params = new URLSearchParams(target.query.slice(1));
    const samlRequest = params.get('SAMLRequest');
    idp.readRequest(samlRequest);
    const hidden = `<input type="hidden" name="SAMLRequest" value="${esc(samlRequest!)}"><input type="hidden" name="RelayState" value="${esc(params.get('RelayState') ?? '')}">`;
    const buttons = idp.users
      .map((u) => `<p><button name="user" value="${esc(u.name)}">${esc(u.name)}</button> <span class="muted">${esc(u.email)} · ${esc((u.groups ?? []).join(', ') || 'no groups')}</span></p>`)
      .join('');
    return sendHtml(res, 200, page('Demo sign-in', `${BANNER}<h1>Sign in as…</h1><form method="post" action="${SSO_PATH}">${hidden}${buttons}</form>`));
  }
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'demo-idp-method');
  const form = await readForm(req, 65_536);
  const request = idp.readRequest(form.get('SAMLRequest'));
  const samlResponse = idp.respond(request, form.get('user'));
  const nonce = randomBytes(16).toString('base64');
  const body =
    `${BANNER}<h1>Signing you in…</h1><form id="f" method="post" action="${esc(request.acsUrl)}">` +
    `<input type="hidden" name="SAMLResponse" value="${samlResponse}"><input type="hidden" name="RelayState" value="${esc(form.get('RelayState') ?? '')}">` +
    `<noscript><button type="submit">Continue</button></noscript></form><script nonce="${nonce}">document.getElementById('f').submit()</script>`;
  sendHtml(res, 200, page('Demo sign-in', body), {
    'content-security-policy': `${PAGE_HEADERS['content-security-policy']}; script-src 'nonce-${nonce}'`,
  });
}
