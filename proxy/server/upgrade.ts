import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { fail, isGatehouseError } from '../errors.js';
import { upstreamPath } from '../forward/upstream-headers.js';
import { forwardUpgrade } from '../forward/websocket.js';
import { EVENTS, F } from '../log.js';
import { authorize, LoginRequired } from './authorize.js';
import type { AppContext, RequestScope } from './context.js';
import { authenticateHeader, errorBody } from './error-body.js';
import { forwardedHeaders } from './forwarded-headers.js';
import { grantOf, type OpenUpgrades } from './open-upgrades.js';
import { isReserved, parseRequestTarget } from '../path.js';

/**
 * Websocket (and any HTTP/1.1 upgrade) requests: the same route, session and policy checks as
 * plain requests; a refusal is a 401/403 JSON answer written on the socket (never a redirect:
 * scripts cannot follow one), then the socket is closed.
 */
export function upgradeHandler(state: () => AppContext, open: OpenUpgrades) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx = state();
    const scope: RequestScope = { id: randomUUID(), startNs: process.hrtime.bigint() };
    socket.on('error', () => socket.destroy());
    handleUpgrade(req, socket, head, ctx, scope, open).catch((err: unknown) => refuse(socket, ctx, scope, req, err));
  };
}

async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: AppContext, scope: RequestScope, open: OpenUpgrades): Promise<void> {
  const target = parseRequestTarget(req.url);
  if (isReserved(target.path)) throw fail('ROUTE_NOT_FOUND', 'no-upgrade-on-reserved');
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw fail('BAD_REQUEST', 'upgrade-not-websocket');
  // RFC 6455 4.1: the handshake is a GET, and it is forwarded as one; deciding it as another
  // method would let a `methods` rule admit what the upstream then serves as a GET.
  if (req.method !== 'GET') throw fail('METHOD_NOT_ALLOWED', 'websocket-not-get');
  const ok = await authorize(req, target, ctx, scope);
  const { route, host } = ok;
  if (!route.websockets) throw fail('ACCESS_DENIED', 'websockets-disabled');
  checkOrigin(req.headers.origin, host, ctx);
  // Decided again on each policy reload while open (closed when the new policy refuses it).
  open.track(socket, grantOf(req, target.path, scope, ok, ok.sessionId), ctx);
  const headers = forwardedHeaders(req, ctx, scope, ok, { upgrade: true });
  forwardUpgrade(socket, head, { upstream: route.upstream, path: upstreamPath(route, target.path, target.query), headers, timeoutMs: route.timeoutMs, ourCookies: ctx.strip.cookieBases }, (status, err) => {
    if (err) return refuse(socket, ctx, scope, req, fail('UPSTREAM_UNAVAILABLE', 'upgrade-failed', err));
    logUpgrade(ctx, scope, req, status);
  });
}

/**
 * Cross-site websocket hijacking: browsers send cookies on websocket handshakes from any site
 * (SameSite=Lax allows same-site ones, CORS does not apply). A browser handshake must come from
 * the page's own origin or Gatehouse's; clients that send no Origin (CLIs) are not browsers.
 */
function checkOrigin(origin: string | undefined, host: string, ctx: AppContext): void {
  if (origin === undefined) return;
  if (origin === ctx.publicUrl.origin || origin === `${ctx.publicUrl.protocol}//${host}`) return;
  throw fail('CSRF_REJECTED', 'websocket-cross-origin');
}

function refuse(socket: Duplex, ctx: AppContext, scope: RequestScope, req: IncomingMessage, err: unknown): void {
  const known = isGatehouseError(err) ? err : fail('INTERNAL', 'unexpected', err);
  if (known.code === 'INTERNAL') ctx.log.error({ [F.event]: EVENTS.error, [F.requestId]: scope.id, err }, 'upgrade failed');
  // Only a signed-in user learns why (anonymous users learn nothing about the policy).
  const reason = (known.code === 'ACCESS_DENIED' || known.code === 'STEP_UP_REQUIRED') && scope.user ? known.reason : undefined;
  const loginUrl = known instanceof LoginRequired ? known.loginUrl : undefined;
  const body = JSON.stringify(errorBody(known.code, { requestId: scope.id, reason, loginUrl, issuer: ctx.publicUrl.origin }));
  const challenge = authenticateHeader(known.code, loginUrl);
  const auth = challenge ? `www-authenticate: ${challenge}\r\n` : '';
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${known.status} ${known.code}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-request-id: ${scope.id}\r\n${auth}connection: close\r\n\r\n${body}`,
    );
  }
  scope.code = known.code;
  logUpgrade(ctx, scope, req, known.status);
}

function logUpgrade(ctx: AppContext, scope: RequestScope, req: IncomingMessage, status: number): void {
  if (!ctx.config.log.access) return;
  ctx.requests.access({
    requestId: scope.id,
    method: 'UPGRADE',
    host: req.headers.host,
    path: (req.url ?? '').split('?')[0]!.slice(0, 512),
    status,
    durationMs: Math.round(Number(process.hrtime.bigint() - scope.startNs) / 1e3) / 1000,
    route: scope.route,
    user: scope.user,
    code: scope.code,
  });
}
