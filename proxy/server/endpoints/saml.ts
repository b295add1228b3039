import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { AppContext, RequestScope } from '../context.js';
import { loginCookie, readCookie, sessionCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import type { RequestTarget } from '../../path.js';
import { redirect } from '../respond.js';
import { checkReturnTo } from '../return-to.js';
import { handleSlo } from './slo.js';

const NONCE = /^[A-Za-z0-9_-]{43}$/;

/** `/.gatehouse/saml/<id>/(metadata|login|acs|slo)`. */
export async function handleSaml(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  const [id, action, ...rest] = target.path.slice('/.gatehouse/saml/'.length).split('/');
  const sp = ctx.connections.get(id ?? '');
  if (!sp || rest.length > 0) throw fail('UNKNOWN_CONNECTION', 'no-such-connection');
  scope.route = `saml:${sp.conn.id}`;
  if (action === 'metadata') return sendMetadata(req, res, sp.metadataXml());
  if (action === 'login') return startLogin(req, res, ctx, sp.conn.id, target);
  if (action === 'acs') return consumeResponse(req, res, ctx, scope, sp.conn.id);
  if (action === 'slo') return handleSlo(req, res, ctx, scope, target, ctx.singleLogout.get(sp.conn.id)!);
  throw fail('ROUTE_NOT_FOUND', 'no-such-saml-endpoint');
}

function sendMetadata(req: IncomingMessage, res: ServerResponse, xml: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'metadata-method');
  res.writeHead(200, { 'content-type': 'application/samlmetadata+xml; charset=utf-8', 'cache-control': 'public, max-age=300', 'content-length': Buffer.byteLength(xml) });
  res.end(req.method === 'HEAD' ? undefined : xml);
}

/** SP-initiated login: bind a nonce to this browser, record the request, send the user to the IdP. */
async function startLogin(req: IncomingMessage, res: ServerResponse, ctx: AppContext, id: string, target: RequestTarget): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'login-method');
  const rd = new URLSearchParams(target.query.slice(1)).get('rd') ?? '/';
  const returnTo = checkReturnTo(rd, ctx.publicUrl, ctx.routeHosts);
  if (!returnTo) throw fail('BAD_REDIRECT', 'return-to-not-ours');
  const existing = readCookie(req.headers.cookie, ctx.cookies.login);
  const nonce = existing && NONCE.test(existing) ? existing : randomBytes(32).toString('base64url');
  const url = await ctx.connections.get(id)!.startLogin(returnTo, nonce);
  redirect(res, url, 302, { 'set-cookie': loginCookie(ctx.cookies, nonce) });
}

/** ACS, HTTP-POST binding (SAML bindings 3.5): verify, then start a brand-new session. */
async function consumeResponse(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, id: string): Promise<void> {
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'acs-method');
  const sp = ctx.connections.get(id)!;
  const form = await readForm(req, ctx.config.saml.max_response_bytes + 8192);
  const samlResponse = form.get('SAMLResponse');
  if (!samlResponse) throw fail('SAML_LOGIN_FAILED', 'no-saml-response');
  const nonce = readCookie(req.headers.cookie, ctx.cookies.login);
  const result = await sp.finishLogin(samlResponse, form.get('RelayState') ?? undefined, nonce);
  // The IdP deprovisioned this user over SCIM: an assertion still in flight must not sign them in.
  if (await ctx.directory.isDeactivated([result.identity.user, result.identity.email])) throw fail('SAML_LOGIN_FAILED', 'user-deactivated');
  const returnTo = checkReturnTo(result.returnTo, ctx.publicUrl, ctx.routeHosts) ?? sp.conn.default_redirect;
  const { token } = await ctx.sessions.create(result.identity, result.saml);
  // A deactivation that listed the user's sessions just before this one existed would miss it.
  if (await ctx.directory.isDeactivated([result.identity.user, result.identity.email])) {
    await ctx.sessions.destroy(token);
    throw fail('SAML_LOGIN_FAILED', 'user-deactivated');
  }
  scope.user = result.identity.user;
  ctx.log.info(
    { [F.event]: EVENTS.login, [F.requestId]: scope.id, [F.user]: result.identity.user, [F.connection]: id, groups: result.identity.groups.length },
    'login',
  );
  redirect(res, returnTo, 303, { 'set-cookie': sessionCookie(ctx.cookies, token) });
}
