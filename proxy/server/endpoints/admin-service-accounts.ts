import type { IncomingMessage, ServerResponse } from 'node:http';
import { formatDuration, parseDuration } from '../../config/duration.js';
import { ERRORS, fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { RequestTarget } from '../../path.js';
import { findServiceToken, listServiceTokens, mintServiceToken, type ServiceTokenSummary } from '../../tokens/service-tokens.js';
import { principalLabel, type AdminPrincipal } from '../admin-auth.js';
import type { AppContext, RequestScope } from '../context.js';
import { readJson } from '../form-body.js';
import { sendJson } from '../respond.js';

/** A token's lifetime when the request names none (never above the account's `max_ttl`). */
const DEFAULT_TTL_MS = 3_600_000;
/** Shortest lifetime a token may be minted with. */
const MIN_TTL_MS = 1_000;

/**
 * The service-accounts part of the admin API (docs/service-accounts.md):
 *   POST   service-accounts/<name>/tokens   {"ttl": "1h", "description"?}: mint a token (201, shown once)
 *   GET    service-accounts/tokens[?service_account=NAME]   live tokens, never their secret
 *   DELETE service-accounts/tokens/<id>     end one token on every instance at once
 * Minting and revoking each write one audit line with who asked; the token itself never.
 * @returns false when `rest` is not a service-accounts path
 */
export async function handleAdminServiceAccounts(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, who: AdminPrincipal, rest: string, target: RequestTarget): Promise<boolean> {
  if (rest === 'service-accounts/tokens') {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
    const name = new URLSearchParams(target.query.slice(1)).get('service_account') ?? undefined;
    const { tokens, truncated } = await listServiceTokens(ctx.sessionAdmin, ctx.serviceAccounts, name);
    sendJson(res, 200, { tokens: tokens.map(publicToken), truncated });
    return true;
  }
  const revoke = /^service-accounts\/tokens\/([^/]+)$/.exec(rest);
  if (revoke && req.method === 'DELETE') {
    const id = revoke[1]!;
    const found = await findServiceToken(ctx.sessionAdmin, id);
    const { revoked } = found ? await ctx.sessionAdmin.revokeId(id) : { revoked: [] };
    audit(ctx, scope, who, EVENTS.serviceTokenRevoked, { service_account: found?.user, id, revoked: revoked.length }, 'service token revoked');
    sendJson(res, revoked.length ? 200 : 404, { revoked: revoked.length, ids: revoked });
    return true;
  }
  const create = /^service-accounts\/([^/]+)\/tokens$/.exec(rest);
  if (!create && !revoke) return false;
  if (!create || req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
  const account = ctx.serviceAccounts.get(create[1]!);
  if (!account) throw fail('ROUTE_NOT_FOUND', 'no-such-service-account');
  const body = (await readJson(req, 4096)) as { ttl?: unknown; description?: unknown } | null;
  const ttlMs = body?.ttl === undefined ? Math.min(DEFAULT_TTL_MS, account.maxTtlMs) : typeof body.ttl === 'string' ? parseDuration(body.ttl) : undefined;
  const maxTtl = formatDuration(account.maxTtlMs);
  if (ttlMs === undefined || ttlMs < MIN_TTL_MS) return refuse(res, scope, 'ttl-invalid', `ttl must be a duration such as 1h or 7d (at most ${maxTtl})`);
  if (ttlMs > account.maxTtlMs) return refuse(res, scope, 'ttl-above-max-ttl', `ttl is above this account's max_ttl (${maxTtl})`);
  const description = body?.description;
  if (description !== undefined && (typeof description !== 'string' || description.length > 200)) return refuse(res, scope, 'description-invalid', 'description must be text of at most 200 characters');
  const minted = await mintServiceToken(ctx, account, ttlMs);
  const expires_at = new Date(minted.expiresAt).toISOString();
  audit(ctx, scope, who, EVENTS.serviceTokenCreated, { service_account: account.name, id: minted.id, expires_at, description }, 'service token created');
  sendJson(res, 201, { token: minted.token, id: minted.id, service_account: account.name, expires_at });
  return true;
}

/** One audit line: who (`token` or `user:NAME`), which account and token id; never the token. */
function audit(ctx: AppContext, scope: RequestScope, who: AdminPrincipal, event: string, fields: Record<string, unknown>, msg: string): void {
  ctx.log.info({ [F.event]: event, [F.requestId]: scope.id, by: principalLabel(who), ...fields }, msg);
}

/** A refused mint, with the reason and a sentence an operator can act on (admins only get here). */
function refuse(res: ServerResponse, scope: RequestScope, reason: string, detail: string): true {
  scope.code = 'BAD_REQUEST';
  scope.reason = reason;
  sendJson(res, 400, { error: { code: 'BAD_REQUEST', message: ERRORS.BAD_REQUEST.message, reason, detail, request_id: scope.id } });
  return true;
}

function publicToken(t: ServiceTokenSummary) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return { id: t.id, service_account: t.serviceAccount, created_at: iso(t.createdAt), expires_at: iso(t.expiresAt), last_used_at: iso(t.lastUsedAt) };
}
