import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditClaims, AuditRecordInput } from '../../audit/saml-audit-types.js';
import { fail, isGatehouseError } from '../../errors.js';
import type { LoginResult } from '../../saml/service-provider.js';
import { EVENTS, F } from '../../log.js';
import type { AppContext, RequestScope } from '../context.js';
import { loginCookie, loginNonce, readCookie, sessionCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import { PATHS, samlPaths } from './paths.js';
import { parseToken } from '../../session/session-keys.js';
import type { RequestTarget } from '../../path.js';
import { redirect } from '../respond.js';
import { checkReturnTo } from '../return-to.js';
import type { StepUpAsk } from '../../saml/authn-context.js';
import type { PriorSignIn } from '../../saml/login-tracker.js';
import { continuedLineage } from '../../session/lineage-records.js';
import { requestClientIp } from '../trusted-proxies.js';
import { handleSlo } from './slo.js';


/** `/.gatehouse/saml/<id>/(metadata|login|acs|slo)`. */
export async function handleSaml(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  const [id, action, ...rest] = target.path.slice(PATHS.saml.length).split('/');
  const sp = ctx.connections.get(id ?? '');
  if (!sp || rest.length > 0) throw fail('UNKNOWN_CONNECTION', 'no-such-connection');
  scope.route = `saml:${sp.conn.id}`;
  if (action === 'metadata') return sendMetadata(req, res, sp.metadataXml());
  if (action === 'login') return startLogin(req, res, ctx, sp.conn.id, target);
  if (action === 'acs') {
    scope.acs = true;
    return consumeResponse(req, res, ctx, scope, sp.conn.id);
  }
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
  const query = new URLSearchParams(target.query.slice(1));
  const rd = query.get('rd') ?? '/';
  const returnTo = checkReturnTo(rd, ctx.publicUrl, ctx.routeHosts);
  if (!returnTo) throw fail('BAD_REDIRECT', 'return-to-not-ours');
  const nonce = loginNonce(req.headers.cookie, ctx.cookies);
  const url = await ctx.connections.get(id)!.startLogin(returnTo, nonce, stepUpAsk(ctx, query), await priorSignIn(req, ctx));
  redirect(res, url, 302, { 'set-cookie': loginCookie(ctx.cookies, nonce) });
}

/**
 * What this browser holds when a login starts. The session its whole cookie opens is replaced by
 * the new one; a bare id is never enough (anyone could name someone else's session). Its
 * lineage (from the live session, or the record an idled-out cookie left) is carried in the
 * pending login, so the new session can continue it whatever happens to the old one meanwhile
 * (a second tab finishing first). A store that cannot answer only means nothing is carried.
 */
async function priorSignIn(req: IncomingMessage, ctx: AppContext): Promise<PriorSignIn> {
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  if (!token) return {};
  const open = await ctx.sessions.openBrowser(token).catch(() => undefined);
  const lineage = open?.lineage ? { lineage: open.lineage, user: open.identity.user, connection: open.identity.connection } : await ctx.lineages.read(token).catch(() => undefined);
  return { ...(open ? { replaces: parseToken(token)!.id } : {}), ...(lineage ? { lineage } : {}) };
}

/**
 * `idp_initiated: restart`: a verified unsolicited response signs nobody in. The browser is sent
 * through a fresh SP-initiated login bound to it, so a response planted by someone else (login
 * CSRF) at worst makes the victim sign in as themselves.
 */
async function restartLogin(res: ServerResponse, ctx: AppContext, scope: RequestScope, id: string, relayState: string | undefined): Promise<void> {
  const sp = ctx.connections.get(id)!;
  const returnTo = checkReturnTo(relayState, ctx.publicUrl, ctx.routeHosts) ?? sp.conn.default_redirect;
  ctx.log.info({ [F.event]: EVENTS.loginRestarted, [F.requestId]: scope.id, [F.connection]: id }, 'unsolicited response: fresh SP-initiated login started');
  // Through our own login endpoint, a same-site GET: the browser's (Lax) session cookie comes
  // along there, so the fresh login binds to this browser and replaces its session like any other.
  redirect(res, `${samlPaths(id).login}?rd=${encodeURIComponent(returnTo)}`, 303);
}

/**
 * `step_up=<route>`: ask for what that route requires (its classes are read from the policy, never
 * from the URL); `fresh=1`: ForceAuthn. Anyone may ask to authenticate again; the connection's
 * own force_authn and authn_context still apply (askFor, checkAuthn).
 */
function stepUpAsk(ctx: AppContext, query: URLSearchParams): StepUpAsk | undefined {
  const name = query.get('step_up');
  if (name === null) return undefined;
  const route = ctx.routes.byName.get(name);
  if (!route?.stepUp) throw fail('BAD_REQUEST', 'step-up-route-unknown');
  return { classes: route.stepUp.classes, fresh: query.get('fresh') === '1' };
}

/**
 * ACS, HTTP-POST binding (SAML bindings 3.5): verify, then start a brand-new session. Every POST
 * is recorded in the audit trail once its verdict is known (after it, never instead of it).
 */
async function consumeResponse(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, id: string): Promise<void> {
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'acs-method');
  const seen: { samlResponse?: string } = {};
  const audit = { kind: 'response', connection: id, clientIp: requestClientIp(req, ctx.forwarding), reqId: scope.id } as const;
  let result: LoginResult | undefined;
  try {
    result = await verifyAndSignIn(req, res, ctx, scope, id, seen);
  } catch (err) {
    const e = isGatehouseError(err) ? err : undefined;
    ctx.samlAudit.record({ ...audit, ...messageOf(req, seen), verdict: 'refused', code: e?.code ?? 'INTERNAL', reason: e?.reason ?? 'unexpected' });
    throw err;
  }
  // A restart (`idp_initiated: restart`) verified the response but signed nobody in.
  if (!result) ctx.samlAudit.record({ ...audit, ...messageOf(req, seen), verdict: 'accepted', reason: 'login-restarted' });
  else ctx.samlAudit.record({ ...audit, ...messageOf(req, seen), verdict: 'accepted', reason: 'login', claims: verifiedClaims(result) });
}

/** The message for the audit: as received, or (a body never read) only its announced size. */
function messageOf(req: IncomingMessage, seen: { samlResponse?: string }): Pick<AuditRecordInput, 'encoded' | 'unreadBytes'> {
  if (seen.samlResponse !== undefined) return { encoded: { value: seen.samlResponse, binding: 'post' } };
  const length = Number(req.headers['content-length']);
  return Number.isSafeInteger(length) ? { unreadBytes: length } : {};
}

/** What the verified login established, for the audit (these claims are marked verified). */
function verifiedClaims(r: LoginResult): AuditClaims {
  return { user: r.identity.user, email: r.identity.email, groups: [...r.identity.groups], name_id: r.saml.nameId, name_id_format: r.saml.nameIdFormat, session_index: r.saml.sessionIndex, issuer: r.saml.issuer };
}

async function verifyAndSignIn(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, id: string, seen: { samlResponse?: string }): Promise<LoginResult | undefined> {
  const sp = ctx.connections.get(id)!;
  const form = await readForm(req, ctx.config.saml.max_response_bytes + 8192);
  const samlResponse = form.get('SAMLResponse');
  if (!samlResponse) throw fail('SAML_LOGIN_FAILED', 'no-saml-response');
  seen.samlResponse = samlResponse;
  // A field sent twice is read as its first copy here and maybe as the last by a filter in front.
  if (form.getAll('SAMLResponse').length > 1 || form.getAll('RelayState').length > 1) throw fail('SAML_LOGIN_FAILED', 'form-field-repeated');
  const nonce = readCookie(req.headers.cookie, ctx.cookies.login);
  const result = await sp.finishLogin(samlResponse, form.get('RelayState') ?? undefined, nonce);
  if ('restart' in result) {
    await restartLogin(res, ctx, scope, id, result.returnTo);
    return undefined;
  }
  // The IdP deprovisioned this user over SCIM: an assertion still in flight must not sign them in.
  if (await ctx.directory.isDeactivated([result.identity.user, result.identity.email])) throw fail('SAML_LOGIN_FAILED', 'user-deactivated');
  const returnTo = checkReturnTo(result.returnTo, ctx.publicUrl, ctx.routeHosts) ?? sp.conn.default_redirect;
  const { token, session } = await ctx.sessions.create(result.identity, result.saml, continuedLineage(result.lineage, result.identity));
  // A deactivation that listed the user's sessions just before this one existed would miss it.
  if (await ctx.directory.isDeactivated([result.identity.user, result.identity.email])) {
    await ctx.sessions.destroy(token);
    throw fail('SAML_LOGIN_FAILED', 'user-deactivated');
  }
  await ctx.lineages.keep(token, session).catch((err: unknown) => ctx.log.warn({ [F.requestId]: scope.id, err }, 'could not record the sign-in lineage; a sign-out after idling out will not end its CLI logins'));
  if (result.replaces) {
    await ctx.sessionAdmin.endReplaced(result.replaces, parseToken(token)!.id, ctx.stores.logins, ctx.config.saml.login_timeout).catch((err: unknown) => ctx.log.warn({ [F.requestId]: scope.id, err }, 'could not end the session this login replaces'));
  }
  scope.user = result.identity.user;
  ctx.log.info(
    { [F.event]: EVENTS.login, [F.requestId]: scope.id, [F.user]: result.identity.user, [F.connection]: id, groups: result.identity.groups.length, [F.spKey]: result.decryptedWith },
    'login',
  );
  redirect(res, returnTo, 303, { 'set-cookie': sessionCookie(ctx.cookies, token) });
  return result;
}
