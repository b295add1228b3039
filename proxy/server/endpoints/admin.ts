import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { RequestTarget } from '../../path.js';
import { publicSession } from '../../session/session-admin.js';
import { admitAdmin, principalLabel, type AdminPrincipal } from '../admin-auth.js';
import type { AppContext, RequestScope } from '../context.js';
import { readJson } from '../form-body.js';
import { sendJson } from '../respond.js';
import { handleSamlAudit } from './admin-saml-audit.js';
import { handleAdminConnections } from './admin-connections.js';
import { handleAdminServiceAccounts } from './admin-service-accounts.js';
import { PATHS } from './paths.js';

/**
 * The admin API (`/.gatehouse/admin/`), for operators and `gatehouse sessions`:
 *   GET    sessions[?email=E]     live sessions (everyone, or one user by email or user name)
 *   DELETE sessions/<id>          end one session
 *   POST   sessions/revoke        {"email": E} or {"id": ID}: end sessions
 *   GET    saml-audit[?email=&since=&connection=&verdict=&kind=&limit=&xml=1]
 *                                 SAML messages received (JSON; an HTML page for browsers)
 *   GET    connections            each connection's IdP metadata state (admin-connections.ts)
 *   POST   connections/<id>/metadata/refresh   fetch that IdP's metadata now
 *   POST   service-accounts/<name>/tokens, GET service-accounts/tokens, DELETE service-accounts/tokens/<id>
 *                                 service-account tokens (admin-service-accounts.ts)
 * Every revocation reaches all instances at once and is logged with who asked.
 */
export async function handleAdmin(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  const who = await admitAdmin(req, ctx);
  const rest = target.path.slice(PATHS.admin.length);
  if (rest === 'saml-audit') return handleSamlAudit(req, res, ctx, scope, who, target);
  if (rest === 'sessions') {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
    const email = new URLSearchParams(target.query.slice(1)).get('email') ?? undefined;
    const { sessions, truncated } = await ctx.sessionAdmin.list(email);
    return sendJson(res, 200, { sessions: sessions.map(publicSession), truncated });
  }
  if (rest === 'sessions/revoke') {
    if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
    const body = (await readJson(req, 4096)) as { email?: unknown; id?: unknown } | null;
    const email = typeof body?.email === 'string' && body.email.trim() !== '' ? body.email : undefined;
    const id = typeof body?.id === 'string' ? body.id : undefined;
    if ((email === undefined) === (id === undefined)) throw fail('BAD_REQUEST', 'revoke-needs-email-or-id');
    const { revoked } = email !== undefined ? await ctx.sessionAdmin.revokeUser(email) : await ctx.sessionAdmin.revokeId(id!);
    logRevoked(ctx, scope, who, revoked, email !== undefined ? { email } : { id });
    return sendJson(res, 200, { revoked: revoked.length, ids: revoked });
  }
  if (rest.startsWith('sessions/') && rest.indexOf('/', 'sessions/'.length) === -1) {
    if (req.method !== 'DELETE') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
    const id = rest.slice('sessions/'.length);
    const { revoked } = await ctx.sessionAdmin.revokeId(id);
    logRevoked(ctx, scope, who, revoked, { id });
    return sendJson(res, revoked.length ? 200 : 404, { revoked: revoked.length, ids: revoked });
  }
  if (await handleAdminConnections(req, res, ctx, scope, who, rest)) return;
  if (await handleAdminServiceAccounts(req, res, ctx, scope, who, rest, target)) return;
  throw fail('ROUTE_NOT_FOUND', 'no-such-admin-endpoint');
}

/** One audit line per revocation, whoever asked (admin API, SCIM). */
export function logRevoked(ctx: AppContext, scope: RequestScope, who: AdminPrincipal | { kind: 'scim' }, revoked: readonly string[], target: Record<string, string | undefined>): void {
  ctx.log.info(
    { [F.event]: EVENTS.sessionsRevoked, [F.requestId]: scope.id, by: principalLabel(who), target, count: revoked.length, ids: revoked.slice(0, 100) },
    'sessions revoked',
  );
}

