import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import type { AppContext } from '../context.js';
import { readCookie } from '../cookies.js';
import { esc, page } from '../html.js';
import type { RequestTarget } from '../../path.js';
import { sendHtml, sendJson } from '../respond.js';
import { checkReturnTo } from '../return-to.js';
import { samlPaths } from './paths.js';

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

/** Who am I: the signed-in identity as JSON (401 when nobody is signed in). */
export async function handleUserinfo(req: IncomingMessage, res: ServerResponse, ctx: AppContext): Promise<void> {
  const session = await ctx.sessions.open(readCookie(req.headers.cookie, ctx.cookies.session));
  if (!session) throw fail('AUTHENTICATION_REQUIRED', 'no-session');
  const { identity } = session;
  sendJson(res, 200, {
    user: identity.user,
    email: identity.email ?? null,
    groups: identity.groups,
    connection: identity.connection,
    name: identity.name ?? null,
    expires_at: new Date(session.expiresAt).toISOString(),
  });
}

/** Sign-in page: one button per connection, each carrying the checked return target. */
export function handleSignin(res: ServerResponse, ctx: AppContext, target: RequestTarget): void {
  const rd = checkReturnTo(new URLSearchParams(target.query.slice(1)).get('rd') ?? '/', ctx.publicUrl, ctx.routeHosts) ?? '/';
  const buttons = [...ctx.connections.values()]
    .map((sp) => `<p><a class="button" href="${esc(`${samlPaths(sp.conn.id).login}?rd=${encodeURIComponent(rd)}`)}">${esc(sp.conn.display_name ?? sp.conn.id)}</a></p>`)
    .join('');
  sendHtml(res, 200, page('Sign in', `<h1>Sign in</h1><p>Choose your identity provider.</p>${buttons}`));
}
