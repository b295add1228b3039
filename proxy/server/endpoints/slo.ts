import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail, isGatehouseError } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { RequestTarget } from '../../path.js';
import { STATUS, type LogoutSubject } from '../../saml/logout-messages.js';
import { MAX_POSTED_MESSAGE } from '../../saml/post-binding.js';
import type { Outgoing, SingleLogout, SloInput, VerifiedLogout } from '../../saml/single-logout.js';
import { parseToken } from '../../session/session-keys.js';
import type { AppContext, RequestScope } from '../context.js';
import { clearCookie, readCookie } from '../cookies.js';
import { readForm } from '../form-body.js';
import { esc, page } from '../html.js';
import { requestClientIp } from '../trusted-proxies.js';
import { cspWithFormAction, redirect, sendHtml } from '../respond.js';
import { signedOutPage } from './logout.js';

/**
 * `/.gatehouse/saml/<id>/slo`: the connection's SingleLogoutService, HTTP-Redirect (GET) and
 * HTTP-POST. An IdP's LogoutRequest ends every session of the NameID it names (or of its
 * SessionIndex) on every instance and is answered with our signed LogoutResponse; the IdP's
 * LogoutResponse to our own request shows the signed-out page. Anything refused is
 * SAML_LOGOUT_FAILED, one log line, and no session changes.
 */
export async function handleSlo(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget, slo: SingleLogout): Promise<void> {
  // Every refusal here, 404 and 405 included, is one `logout-failed` line (pipeline.ts).
  scope.slo = true;
  if (!slo.enabled) throw fail('ROUTE_NOT_FOUND', 'single-logout-off');
  let input: SloInput;
  if (req.method === 'GET') input = { binding: 'redirect', rawQuery: target.query.slice(1) };
  else if (req.method === 'POST') input = { binding: 'post', form: await readForm(req, MAX_POSTED_MESSAGE + 4096) };
  else throw fail('METHOD_NOT_ALLOWED', 'slo-method');
  const trail: Trail = { ctx, req, scope, slo, input, recorded: false };
  let verified: VerifiedLogout | undefined;
  try {
    verified = slo.verify(input);
    if (verified.message.kind === 'LogoutRequest') return await logoutRequest(req, res, ctx, slo, verified, trail);
    return await logoutResponse(req, res, ctx, slo, verified, trail);
  } catch (err) {
    // Recorded once: a failure after the verdict was recorded (answering the IdP) is not a
    // second, refused, message; it still gets its one refusal line in the pipeline.
    recordLogoutMessage(trail, verified, isGatehouseError(err) ? err.code : 'INTERNAL', isGatehouseError(err) ? err.reason : 'unexpected');
    throw err;
  }
}

/** One SLO request's audit-trail state: each message is recorded exactly once. */
interface Trail {
  ctx: AppContext;
  req: IncomingMessage;
  scope: RequestScope;
  slo: SingleLogout;
  input: SloInput;
  recorded: boolean;
}

/** IdP-initiated: end the named sessions, then answer the IdP. */
async function logoutRequest(req: IncomingMessage, res: ServerResponse, ctx: AppContext, slo: SingleLogout, v: VerifiedLogout, trail: Trail): Promise<void> {
  const subject = await slo.acceptRequest(v.message);
  let revoked: string[] = [];
  let status: string = STATUS.success;
  let subStatus: string | undefined;
  try {
    revoked = await endSessions(ctx, slo, v.message.issuer!, subject);
  } catch (err) {
    // SAML core 3.7.3.2: sessions we could not end are reported, never claimed as ended.
    if (!isGatehouseError(err, 'SESSION_STORE_UNAVAILABLE')) throw err;
    status = STATUS.responder;
    subStatus = STATUS.partialLogout;
  }
  recordLogoutMessage(trail, v, status === STATUS.success ? 'ok' : 'partial-logout', undefined, revoked);
  const token = readCookie(req.headers.cookie, ctx.cookies.session);
  const mine = token !== undefined && revoked.includes(parseToken(token)?.id ?? '');
  const clear: Record<string, string> = mine ? { 'set-cookie': clearCookie(ctx.cookies, ctx.cookies.session) } : {};
  const out = slo.answer(v, status, subStatus);
  if (!out) return signedOutPage(res, 'Your Gatehouse session has ended.', clear);
  return send(res, out, clear);
}

/** Every session of the NameID (or of each SessionIndex given) through this connection. */
async function endSessions(ctx: AppContext, slo: SingleLogout, issuer: string, subject: LogoutSubject): Promise<string[]> {
  const base = { connection: slo.conn.id, issuer, nameId: subject.nameId };
  if (subject.sessionIndexes.length === 0) return (await ctx.sessionAdmin.revokeSamlSubject(base)).revoked;
  const ended: string[] = [];
  for (const sessionIndex of subject.sessionIndexes) ended.push(...(await ctx.sessionAdmin.revokeSamlSubject({ ...base, sessionIndex })).revoked);
  return ended;
}

/** SP-initiated, second half: the IdP answers the LogoutRequest our sign-out sent. */
async function logoutResponse(req: IncomingMessage, res: ServerResponse, ctx: AppContext, slo: SingleLogout, v: VerifiedLogout, trail: Trail): Promise<void> {
  const outcome = await slo.acceptResponse(v, readCookie(req.headers.cookie, ctx.cookies.login));
  recordLogoutMessage(trail, v, outcome);
  if (outcome === 'ok' && slo.conn.logout_redirect) return redirect(res, slo.conn.logout_redirect, 303);
  const idp = {
    ok: 'You are also signed out at your identity provider.',
    'partial-logout': 'You are signed out at your identity provider, but it could not sign you out of every other application: close your browser to be sure.',
    'idp-reported-failure': 'Your identity provider did not confirm that it signed you out there: close your browser to be sure.',
  }[outcome];
  return signedOutPage(res, `Your Gatehouse session has ended. ${idp}`);
}

/**
 * The one place every logout message received at a SLO endpoint passes, verified or refused: it
 * goes to the SAML audit trail (docs/saml-audit.md) with its verdict, once per request (a later
 * call for the same request does nothing). A request carrying no SAMLRequest or SAMLResponse
 * (a bare GET) holds no message and is not recorded. `verdict` is `ok`, `partial-logout`,
 * `idp-reported-failure` or the error code of a refusal. Verified messages get their log line
 * here (warn when a LogoutRequest ended no session: the IdP names someone we never signed in,
 * or a NameID/SessionIndex that matches none of ours); refused ones get theirs in the pipeline.
 */
function recordLogoutMessage(trail: Trail, v: VerifiedLogout | undefined, verdict: string, reason?: string, revoked?: readonly string[]): void {
  if (trail.recorded) return;
  trail.recorded = true;
  const { ctx, req, scope, slo, input } = trail;
  const params = input.binding === 'redirect' ? new URLSearchParams(input.rawQuery) : input.form;
  const request = params.get('SAMLRequest');
  const value = request ?? params.get('SAMLResponse') ?? undefined;
  if (value === undefined) return;
  const isRequest = v ? v.message.kind === 'LogoutRequest' : request !== null;
  ctx.samlAudit.record({
    kind: isRequest ? 'logout-request' : 'logout-response',
    connection: slo.conn.id,
    clientIp: requestClientIp(req, ctx.forwarding),
    reqId: scope.id,
    encoded: { value, binding: input.binding },
    verdict: reason === undefined ? 'accepted' : 'refused',
    ...(reason === undefined ? { reason: revoked ? `logout-${verdict}-ended-${revoked.length}` : `logout-${verdict}` } : { code: verdict, reason }),
  });
  if (reason !== undefined || !v) return;
  const endedNone = revoked !== undefined && revoked.length === 0 && verdict === 'ok';
  const line = {
    [F.event]: EVENTS.samlLogout,
    [F.requestId]: scope.id,
    [F.connection]: slo.conn.id,
    kind: v.message.kind,
    binding: v.binding,
    verdict,
    ...(revoked ? { ended: revoked.length } : {}),
  };
  // SAML core 3.7.3.2 lets us answer Success when no session matched; the line says so loudly.
  if (endedNone) ctx.log.warn(line, 'IdP logout request ended no session (a NameID we never signed in, or a mismatch)');
  else ctx.log.info(line, v.message.kind === 'LogoutRequest' ? 'IdP logout request' : 'IdP logout response');
}

function send(res: ServerResponse, out: Outgoing, headers: Record<string, string>): void {
  if (out.binding === 'redirect') return redirect(res, out.url, 302, headers);
  const nonce = randomBytes(16).toString('base64');
  const fields = Object.entries(out.fields).map(([k, val]) => `<input type="hidden" name="${esc(k)}" value="${esc(val)}">`).join('');
  const body = `<h1>Signing you out…</h1><form id="f" method="post" action="${esc(out.url)}">${fields}<noscript><button type="submit">Continue</button></noscript></form><script nonce="${nonce}">document.getElementById('f').submit()</script>`;
  const csp = cspWithFormAction(new URL(out.url).origin);
  sendHtml(res, 200, page('Signing out', body), { ...headers, 'content-security-policy': `${csp}; script-src 'nonce-${nonce}'` });
}
