import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { fail } from '../errors.js';
import { bearerValue } from '../tokens/prefixes.js';
import type { AppContext } from './context.js';
import { readCookie } from './cookies.js';
import { sameOrigin } from './endpoints/logout.js';

/** Who is acting on the admin API, for the audit line. */
export type AdminPrincipal = { kind: 'token' } | { kind: 'user'; user: string };

/** How an audit line names who acted: `token` (the admin token), `scim` or `user:<name>`. */
export function principalLabel(who: AdminPrincipal | { kind: 'scim' }): string {
  return who.kind === 'user' ? `user:${who.user}` : who.kind;
}

/** An admin or SCIM token: visible ASCII, at most 512 characters. */
const ADMIN_TOKEN = /^[\x21-\x7e]{1,512}$/;

/** The bearer token of a request (RFC 6750 2.1), if it sent one of a plausible shape. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const token = bearerValue(req.headers.authorization ?? '');
  return token !== undefined && ADMIN_TOKEN.test(token) ? token : undefined;
}

/** Compares a presented token with the configured one in constant time (digests of equal length). */
export function tokenMatches(given: string | undefined, want: string | undefined): boolean {
  if (given === undefined || want === undefined) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(want).digest();
  return timingSafeEqual(a, b);
}

/**
 * Admits an admin request: the `admin.token` as a bearer token, or a signed-in member of an
 * `admin.groups` group. A browser session changing something must also come from our own origin
 * (CSRF): a bearer token cannot be sent cross-site by a browser, a cookie can.
 * @throws GatehouseError ROUTE_NOT_FOUND (admin API off), AUTHENTICATION_REQUIRED, ACCESS_DENIED, CSRF_REJECTED
 */
export async function admitAdmin(req: IncomingMessage, ctx: AppContext): Promise<AdminPrincipal> {
  const { token, groups } = ctx.config.admin;
  if (token === undefined && groups.length === 0) throw fail('ROUTE_NOT_FOUND', 'admin-api-off');
  const bearer = bearerToken(req);
  if (bearer !== undefined) {
    if (tokenMatches(bearer, token)) return { kind: 'token' };
    throw fail('AUTHENTICATION_REQUIRED', 'admin-token-wrong');
  }
  // A service-account (or CLI) session's token in a cookie must not turn an account listed in an
  // admin group into an administrator: a cookie opens browser sessions only.
  const session = await ctx.sessions.openBrowser(readCookie(req.headers.cookie, ctx.cookies.session));
  if (!session) throw fail('AUTHENTICATION_REQUIRED', 'admin-no-credentials');
  const { connections } = ctx.config.admin;
  if (connections && !connections.includes(session.identity.connection)) throw fail('ACCESS_DENIED', 'admin-connection-not-trusted');
  if (!session.identity.groups.some((g) => groups.includes(g))) throw fail('ACCESS_DENIED', 'not-an-admin');
  const safe = req.method === 'GET' || req.method === 'HEAD';
  if (!safe && !sameOrigin(req, ctx)) throw fail('CSRF_REJECTED', 'admin-cross-site');
  return { kind: 'user', user: session.identity.user };
}
