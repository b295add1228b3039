import type { ServerResponse } from 'node:http';
import type { AppContext } from '../context.js';
import { sendJson } from '../respond.js';

const NO_KEYS = Object.freeze({ keys: [] });

/**
 * `GET /.well-known/gatehouse/jwks.json`: the identity JWT's public keys (RFC 7517 JWK Set),
 * signing key first and every configured key published, so tokens signed before a rotation still
 * verify. Public and cacheable for 5 minutes; no keys when no identity JWT is configured.
 */
export function handleJwks(res: ServerResponse, ctx: AppContext): void {
  sendJson(res, 200, ctx.identityJwt?.jwks ?? NO_KEYS, { 'cache-control': 'public, max-age=300' });
}
