import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import type { Session } from '../../session/types.js';
import { requestSession } from '../request-session.js';
import type { AppContext, RequestScope } from '../context.js';
import { sendJson } from '../respond.js';

/** Liveness: the process answers. */
export function handleHealth(res: ServerResponse): void {
  sendJson(res, 200, { status: 'ok' });
}

/**
 * Readiness: state built and every connection has IdP metadata (no details for anonymous
 * callers). Still 200 after a failed policy reload, since the last good policy serves; the
 * `policy` part says `stale` and counts the problems (files and messages stay in the logs).
 * 503 while the session store is unreachable (this instance cannot open sessions), with the
 * store's state; the instance keeps running and recovers by itself. `metadata` gives each
 * connection's IdP metadata status (`ok`, `stale`, `expired`; details in the admin API).
 */
export function handleReady(res: ServerResponse, ctx: AppContext): void {
  const h = ctx.stores.health();
  const store = { kind: h.kind, status: h.status, since: new Date(h.since).toISOString(), revocations: h.listening ? 'listening' : 'not-listening' };
  const p = ctx.policy;
  const policy = {
    generation: p.generation,
    loaded_at: new Date(p.loadedAt).toISOString(),
    status: p.status,
    ...(p.lastError ? { last_error: { at: new Date(p.lastError.at).toISOString(), problems: p.lastError.problems.length } } : {}),
  };
  const ready = h.status === 'ready';
  // Per connection: ok / stale (last refresh failed, last good copy serves) / expired (logins refused).
  // An expired connection does not make the instance unready: the others still sign users in.
  const metadata = Object.fromEntries([...ctx.idpMetadata].map(([id, s]) => [id, s.state().status]));
  sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'store-unavailable', connections: ctx.connections.size, routes: ctx.routes.routes.length, policy, store, metadata });
}

/**
 * Who am I: the identity as JSON, extra `claims` included, and which kind of client asks
 * (`browser`, `cli`, `service`). Opened as routes open it (request-session.ts): a presented Gatehouse
 * token decides alone (an access token or a service-account token, whose groups come from the
 * current config), else the browser cookie. 401 AUTHENTICATION_REQUIRED when nobody is signed in.
 * @throws GatehouseError TOKEN_INVALID for a token that opens nothing (never the cookie instead)
 */
export async function handleUserinfo(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const session = await userinfoSession(req, ctx);
  if (!session) throw fail('AUTHENTICATION_REQUIRED', 'no-session');
  const { identity } = session;
  scope.user = identity.user;
  sendJson(res, 200, {
    user: identity.user,
    email: identity.email ?? null,
    groups: identity.groups,
    connection: identity.connection,
    name: identity.name ?? null,
    first_name: identity.firstName ?? null,
    last_name: identity.lastName ?? null,
    claims: identity.claims ?? {},
    client: session.client ?? 'browser',
    expires_at: new Date(session.expiresAt).toISOString(),
  });
}

/**
 * The session userinfo shows. A stale or revoked token must not answer with whoever's cookie
 * travels with it, and a refresh token is no bearer here either (tokens/bearer.ts).
 */
async function userinfoSession(req: IncomingMessage, ctx: AppContext): Promise<Session | undefined> {
  const found = await requestSession(req, ctx);
  if ('refused' in found) throw fail('TOKEN_INVALID', found.refused);
  return found.session;
}
