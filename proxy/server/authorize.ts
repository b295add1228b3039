import type { IncomingMessage } from 'node:http';
import { fail, GatehouseError } from '../errors.js';
import type { CompiledRoute } from '../policy/compile.js';
import { evaluate } from '../policy/evaluate.js';
import { grantingGroups } from '../policy/granting-groups.js';
import { stepUpNeeded, type StepUpNeed } from '../policy/step-up.js';
import type { RequestFacts } from '../policy/types.js';
import { requestClientIp } from './trusted-proxies.js';
import type { Session } from '../session/types.js';
import type { AppContext, RequestScope } from './context.js';
import { requestSession } from './request-session.js';
import { PATHS, samlPaths } from './endpoints/paths.js';
import type { RequestTarget } from '../path.js';

/** A request that may go upstream. */
export interface Authorized {
  route: CompiledRoute;
  host: string;
  session: Session | undefined;
  /** The client address the decision used (peer, or through trusted proxies). */
  clientIp: string;
  /** The id of the session that admitted it (cookie, CLI access token or service token). */
  sessionId?: string;
}

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/** Host header values already seen to be well-formed (a handful in practice; bounded). */
const goodHosts = new Set<string>();

/** Thrown when nobody is signed in; carries where to sign in. */
export class LoginRequired extends GatehouseError {
  constructor(readonly loginUrl: string, code: 'AUTHENTICATION_REQUIRED' | 'STEP_UP_REQUIRED' | 'TOKEN_INVALID' = 'AUTHENTICATION_REQUIRED', reason = 'user-unauthenticated') {
    super(code, reason);
  }
}

/**
 * Thrown when a signed-in user must authenticate again for this route (require_authn_context,
 * max_authn_age): browsers are sent to `loginUrl` like any sign-in, others get 401 STEP_UP_REQUIRED.
 */
export class StepUpRequired extends LoginRequired {
  constructor(loginUrl: string, reason: string) {
    super(loginUrl, 'STEP_UP_REQUIRED', reason);
  }
}

/**
 * Thrown when a request presents a Gatehouse token that opens no live session (malformed,
 * tampered, expired, revoked, a refresh token): 401 JSON, never a redirect, never the cookie.
 */
export class TokenInvalid extends LoginRequired {
  constructor(loginUrl: string, reason: string) {
    super(loginUrl, 'TOKEN_INVALID', reason);
  }
}

/** Thrown when a signed-in user is refused; carries the groups that would grant access. */
export class AccessDenied extends GatehouseError {
  constructor(reason: string, readonly grantingGroups: readonly string[] | undefined) {
    super('ACCESS_DENIED', reason);
  }
}

/** Thrown when routes serve the path but not the method; carries the Allow list. */
export class MethodNotAllowed extends GatehouseError {
  constructor(readonly allowed: readonly string[]) {
    super('METHOD_NOT_ALLOWED', 'method-not-allowed');
  }
}

/**
 * Route match, session lookup and policy decision for one request, with one decision record
 * logged. Throws LoginRequired (no session), AccessDenied, MethodNotAllowed or ROUTE_NOT_FOUND.
 */
export async function authorize(req: IncomingMessage, target: RequestTarget, ctx: AppContext, scope: RequestScope): Promise<Authorized> {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!goodHosts.has(host)) {
    if (!HOST.test(host)) throw fail('BAD_HOST', 'bad-host-header');
    if (goodHosts.size >= 1024) goodHosts.clear();
    goodHosts.add(host);
  }
  const method = req.method ?? 'GET';
  const hit = ctx.routes.match(host, target.path, method);
  if (!hit) throw fail('ROUTE_NOT_FOUND', 'no-route');
  if (!('route' in hit)) throw new MethodNotAllowed(hit.methodNotAllowed);
  const { route } = hit;
  scope.route = route.name;
  const { session, sessionId } = await sessionOf(req, target, ctx, host);
  if (session) scope.user = session.identity.user;
  const f = ctx.forwarding;
  const facts: RequestFacts = { method, path: target.path, clientIp: requestClientIp(req, f) };
  const decision = evaluate(route, session?.identity, facts);
  const stepUp = decision.allow && route.stepUp ? stepUpFor(route, session, ctx.clock.now()) : undefined;
  const allow = decision.allow && !stepUp;
  const record = ctx.config.log.decisions;
  if (record === 'all' || (record === 'deny' && !allow)) {
    const reasons = stepUp ? [...decision.reasons, 'step-up-required', ...stepUp.reasons] : decision.reasons;
    ctx.requests.decision({ requestId: scope.id, route: route.name, user: scope.user, allow, reasons, rule: decision.rule, stepUp: stepUp?.detail });
  }
  if (allow) return { route, host, session, clientIp: facts.clientIp, ...(session && sessionId ? { sessionId } : {}) };
  if (stepUp) {
    if (!session) throw new LoginRequired(loginUrl(ctx, host, target));
    throw new StepUpRequired(stepUpUrl(ctx, host, target, session.identity.connection, route.name, stepUp.fresh), stepUp.reasons.join(','));
  }
  if (decision.unauthenticated) throw new LoginRequired(loginUrl(ctx, host, target));
  const identity = session?.identity;
  throw new AccessDenied(decision.reasons.join(','), identity && route.explainDenial ? grantingGroups(route, identity, facts) : undefined);
}

/** The session of a request (request-session.ts); a token that opens nothing gets TOKEN_INVALID. */
async function sessionOf(req: IncomingMessage, target: RequestTarget, ctx: AppContext, host: string): Promise<{ session?: Session; sessionId?: string }> {
  const found = await requestSession(req, ctx);
  if ('refused' in found) throw new TokenInvalid(loginUrl(ctx, host, target), found.refused);
  return found;
}

/** Where to send someone to sign in and come back to this exact request. */
export function loginUrl(ctx: AppContext, host: string, target: RequestTarget): string {
  const only = ctx.connections.size === 1 ? [...ctx.connections.keys()][0] : undefined;
  const path = only ? samlPaths(only).login : PATHS.signin;
  return `${ctx.publicUrl.origin}${path}?rd=${encodeURIComponent(returnPath(ctx, host, target))}`;
}

/** The step-up login: the same connection, asking for what `route` requires (see endpoints/saml.ts). */
function stepUpUrl(ctx: AppContext, host: string, target: RequestTarget, connection: string, route: string, fresh: boolean): string {
  const base = `${ctx.publicUrl.origin}${samlPaths(connection).login}?rd=${encodeURIComponent(returnPath(ctx, host, target))}`;
  return `${base}&step_up=${encodeURIComponent(route)}${fresh ? '&fresh=1' : ''}`;
}

function returnPath(ctx: AppContext, host: string, target: RequestTarget): string {
  return host === ctx.publicUrl.host ? target.path + target.query : `${ctx.publicUrl.protocol}//${host}${target.path}${target.query}`;
}

/** What a session lacks for the route's step-up requirement; a request without one needs sign-in. */
function stepUpFor(route: CompiledRoute, session: Session | undefined, nowMs: number): StepUpNeed | undefined {
  if (!session) return { reasons: ['user-unauthenticated'], fresh: false, detail: {} };
  return stepUpNeeded(route.stepUp!, session.saml, nowMs);
}
