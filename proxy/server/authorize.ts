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
import { readCookie } from './cookies.js';
import { PATHS, samlPaths } from './endpoints/paths.js';
import type { RequestTarget } from '../path.js';
import { openServiceToken, parseServiceToken, SERVICE_TOKEN_PREFIX } from '../tokens/service-tokens.js';

/** A request that may go upstream. */
export interface Authorized {
  route: CompiledRoute;
  host: string;
  session: Session | undefined;
  /** The client address the decision used (peer, or through trusted proxies). */
  clientIp: string;
  /** The session id behind a bearer token that admitted it (open websockets end with it). */
  tokenSessionId?: string;
}

const HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/;

/** Host header values already seen to be well-formed (a handful in practice; bounded). */
const goodHosts = new Set<string>();

/** Thrown when nobody is signed in; carries where to sign in. */
export class LoginRequired extends GatehouseError {
  constructor(readonly loginUrl: string, code: 'AUTHENTICATION_REQUIRED' | 'STEP_UP_REQUIRED' = 'AUTHENTICATION_REQUIRED', reason = 'user-unauthenticated') {
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
  const { session, tokenSessionId } = await sessionOf(req, ctx);
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
  if (allow) return { route, host, session, clientIp: facts.clientIp, ...(tokenSessionId ? { tokenSessionId } : {}) };
  if (stepUp) {
    if (!session) throw new LoginRequired(loginUrl(ctx, host, target));
    throw new StepUpRequired(stepUpUrl(ctx, host, target, session.identity.connection, route.name, stepUp.fresh), stepUp.reasons.join(','));
  }
  if (decision.unauthenticated) throw new LoginRequired(loginUrl(ctx, host, target));
  const identity = session?.identity;
  throw new AccessDenied(decision.reasons.join(','), identity && route.explainDenial ? grantingGroups(route, identity, facts) : undefined);
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

// ---- Temporary seam (issue 6, service accounts) until tokens/bearer.ts reads every Gatehouse
// bearer token: here only `Authorization: Bearer ghs_…`. The lead replaces this block at merge;
// the rule that a cookie opens browser sessions only stays.

/**
 * `Authorization: Bearer ghs_…` is ours. Linear on any input: no group whose end depends on
 * backtracking (`(ghs_.*?)\s*$` took seconds on a 30 KB header of spaces: ReDoS).
 */
const SERVICE_BEARER = new RegExp(`^[ \t]*Bearer[ \t]+(?=${SERVICE_TOKEN_PREFIX})`, 'i');

/** The service token an Authorization header carries (whatever follows the prefix), else undefined. */
function serviceBearer(header: string | undefined): string | undefined {
  const m = header === undefined ? null : SERVICE_BEARER.exec(header);
  return m ? header!.slice(m[0].length).trim() : undefined;
}

/**
 * The session of a request. A service token, when one is presented, is the only credential: if
 * it opens nothing the request gets 401 TOKEN_INVALID (never a fallback to the cookie), and the
 * header is dropped so the token never reaches the upstream. A cookie opens browser sessions
 * only: a service or CLI session's token pasted into a cookie would skip the checks above.
 */
async function sessionOf(req: IncomingMessage, ctx: AppContext): Promise<{ session: Session | undefined; tokenSessionId?: string }> {
  const bearer = serviceBearer(req.headers.authorization);
  if (bearer === undefined) {
    const token = readCookie(req.headers.cookie, ctx.cookies.session);
    const session = token ? await ctx.sessions.open(token) : undefined;
    return { session: session?.client === undefined ? session : undefined };
  }
  const session = await openServiceToken(ctx, bearer);
  if (!session) throw fail('TOKEN_INVALID', 'service-token-invalid');
  dropAuthorization(req);
  return { session, tokenSessionId: parseServiceToken(bearer)!.id };
}

/** Removes every Authorization header (raw and parsed): forwarding copies `rawHeaders`. */
function dropAuthorization(req: IncomingMessage): void {
  const raw = req.rawHeaders;
  const kept: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() !== 'authorization') kept.push(raw[i]!, raw[i + 1]!);
  req.rawHeaders = kept;
  delete req.headers.authorization;
}
