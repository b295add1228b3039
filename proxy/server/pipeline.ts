import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail, isGatehouseError, type ErrorCode } from '../errors.js';
import { forwardHttp } from '../forward/http-forward.js';
import { upstreamPath } from '../forward/upstream-headers.js';
import { EVENTS, F } from '../log.js';
import { AccessDenied, authorize, LoginRequired, MethodNotAllowed } from './authorize.js';
import type { AppContext, RequestScope } from './context.js';
import { forwardedHeaders } from './forwarded-headers.js';
import { isReserved, parseRequestTarget } from '../path.js';
import { handleReserved } from './reserved.js';
import { isBrowserNavigation, redirect, sendError, tagResponse } from './respond.js';

/**
 * One request: scope -> reserved path? -> route -> session -> decision -> clean headers ->
 * stream upstream -> one access line. `state()` returns the current immutable context: the
 * seam where a reload can swap it whole between requests.
 */
export function requestHandler(state: () => AppContext) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = state();
    const scope: RequestScope = { id: randomUUID(), startNs: process.hrtime.bigint() };
    tagResponse(res, scope.id);
    if (ctx.config.log.access) res.once('close', () => logAccess(ctx, req, res, scope));
    handle(req, res, ctx, scope).catch((err: unknown) => fromError(req, res, ctx, scope, err));
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const target = parseRequestTarget(req.url);
  if (isReserved(target.path)) return handleReserved(req, res, ctx, scope, target);
  const te = req.headers['transfer-encoding'];
  // Only `chunked` is understood end to end; `gzip, chunked` would reach the upstream undeclared.
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') throw fail('BAD_REQUEST', 'unsupported-transfer-encoding');
  const ok = await authorize(req, target, ctx, scope);
  const { route } = ok;
  const headers = forwardedHeaders(req, ctx, scope, ok);
  forwardHttp(req, res, {
    forwarder: ctx.pools.get(route.upstreamOrigin),
    method: req.method ?? 'GET',
    path: upstreamPath(route, target.path, target.query),
    headers,
    headersTimeoutMs: route.timeoutMs,
    requestId: scope.id,
    ourCookies: ctx.strip.cookieBases,
  }, (_status, failure) => {
    if (failure) fromError(req, res, ctx, scope, fail(failure.code, 'upstream-failed', failure.cause));
  });
}

/** Turns any failure into a coded response; unknown errors become INTERNAL and are logged. */
function fromError(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, err: unknown): void {
  const known = isGatehouseError(err) ? err : fail('INTERNAL', 'unexpected', err);
  scope.code = known.code;
  scope.reason = known.reason;
  if (known.code === 'SESSION_STORE_UNAVAILABLE') {
    // The outage is logged once (store-down / store-recovered) and each refusal has its access
    // line with the code: an error line per request would flood the logs for the whole outage.
    ctx.log.debug({ [F.event]: EVENTS.error, [F.requestId]: scope.id, [F.code]: known.code, [F.reason]: known.reason, err: known.cause }, 'request refused: session store unavailable');
  } else if (known.code === 'INTERNAL' || known.status >= 502) {
    ctx.log.error({ [F.event]: EVENTS.error, [F.requestId]: scope.id, [F.code]: known.code, [F.reason]: known.reason, err: known.cause ?? err }, 'request failed');
  } else if (known.code === 'SAML_LOGOUT_FAILED' || scope.slo) {
    ctx.log.warn({ [F.event]: EVENTS.logoutFailed, [F.requestId]: scope.id, [F.code]: known.code, [F.reason]: known.reason, [F.route]: scope.route, [F.clientIp]: req.socket.remoteAddress }, 'logout message refused');
  } else if (known.code === 'SAML_LOGIN_FAILED' || scope.acs) {
    ctx.log.warn({ [F.event]: EVENTS.loginFailed, [F.requestId]: scope.id, [F.code]: known.code, [F.reason]: known.reason, [F.route]: scope.route, [F.clientIp]: req.socket.remoteAddress }, 'login failed');
  }
  drain(req, res);
  // A refused Gatehouse token is never redirected (TOKEN_INVALID: the client is a program).
  if (known instanceof LoginRequired && known.code !== 'TOKEN_INVALID' && isBrowserNavigation(req)) return redirect(res, known.loginUrl);
  const signedIn = scope.user !== undefined;
  sendError(
    res,
    known.code,
    {
      requestId: scope.id,
      reason: publicReason(known.code, known.reason, signedIn),
      loginUrl: known instanceof LoginRequired ? known.loginUrl : undefined,
      issuer: ctx.publicUrl.origin,
      user: known.code === 'ACCESS_DENIED' ? scope.user : undefined,
      grantingGroups: known instanceof AccessDenied && signedIn ? known.grantingGroups : undefined,
    },
    known instanceof MethodNotAllowed ? { allow: known.allowed.join(', ') } : {},
  );
}

/** Only a signed-in user's access denial or step-up says why; everything else stays opaque (no oracle). */
function publicReason(code: ErrorCode, reason: string, signedIn: boolean): string | undefined {
  return ((code === 'ACCESS_DENIED' || code === 'STEP_UP_REQUIRED') && signedIn) || code === 'BAD_PATH' ? reason : undefined;
}

/**
 * An unread request body: close the connection after the answer (a stalled or oversized body
 * must not hold the socket) and discard what still arrives meanwhile.
 */
function drain(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete || req.readableEnded) return;
  if (!res.headersSent) res.shouldKeepAlive = false;
  req.resume();
}

function logAccess(ctx: AppContext, req: IncomingMessage, res: ServerResponse, scope: RequestScope): void {
  const ms = Number(process.hrtime.bigint() - scope.startNs) / 1e6;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  ctx.requests.access({
    requestId: scope.id,
    method: req.method,
    host: req.headers.host,
    // The query is never logged: it may carry tokens.
    path: (q === -1 ? url : url.slice(0, q)).slice(0, 512),
    status: res.writableFinished ? res.statusCode : 499,
    durationMs: Math.round(ms * 1000) / 1000,
    route: scope.route,
    user: scope.user,
    code: scope.code,
    reason: scope.reason,
  });
}
