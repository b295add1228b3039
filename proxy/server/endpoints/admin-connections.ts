import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import type { MetadataState } from '../../saml/idp-source.js';
import { principalLabel, type AdminPrincipal } from '../admin-auth.js';
import type { AppContext, RequestScope } from '../context.js';
import { sendJson } from '../respond.js';

/**
 * The connections part of the admin API:
 *   GET  connections                        every connection with its IdP metadata state
 *   POST connections/<id>/metadata/refresh  fetch that IdP's metadata now; answers the new state
 * Each instance holds its own copy. With a Redis store a successful refresh is announced and the
 * other instances fetch for themselves (`announced: true`); otherwise ask each instance.
 * @returns false when `rest` is not a connections path
 */
export async function handleAdminConnections(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, who: AdminPrincipal, rest: string): Promise<boolean> {
  if (rest === 'connections') {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
    const connections = [...ctx.connections.values()].map((sp) => ({
      id: sp.conn.id,
      display_name: sp.conn.display_name ?? null,
      metadata: publicMetadataState(ctx.idpMetadata.get(sp.conn.id)!.state()),
    }));
    sendJson(res, 200, { connections });
    return true;
  }
  const m = /^connections\/([^/]+)\/metadata\/refresh$/.exec(rest);
  if (!m) return false;
  if (req.method !== 'POST') throw fail('METHOD_NOT_ALLOWED', 'admin-method');
  const source = ctx.idpMetadata.get(m[1]!);
  if (!source) throw fail('UNKNOWN_CONNECTION', 'no-such-connection');
  const state = await source.refresh();
  const refreshed = state.lastError === null;
  // Other instances fetch for themselves (Redis store); without it each instance is asked on its own.
  const announced = refreshed && (await ctx.metadataAnnouncer.announce(m[1]!));
  ctx.log.info(
    { [F.event]: EVENTS.metadataRefreshRequested, [F.requestId]: scope.id, [F.connection]: m[1], by: principalLabel(who), refreshed, [F.reason]: state.lastError?.reason },
    'IdP metadata refresh requested',
  );
  sendJson(res, 200, { connection: m[1], refreshed, announced, metadata: publicMetadataState(state) });
  return true;
}

/** The state as the admin API and `gatehouse metadata` print it (snake_case, ISO times). */
export function publicMetadataState(s: MetadataState) {
  return {
    status: s.status,
    entity_id: s.entityId,
    certs: s.certs.map((c) => ({ fingerprint: c.fingerprint, not_after: c.notAfter })),
    valid_until: s.validUntil,
    cache_duration_ms: s.cacheDurationMs,
    signature: s.signature,
    fetched_at: s.fetchedAt,
    next_refresh_at: s.nextRefreshAt,
    failures: s.failures,
    last_error: s.lastError,
  };
}
