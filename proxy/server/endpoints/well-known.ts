import type { ServerResponse } from 'node:http';
import type { AppContext } from '../context.js';
import { sendJson } from '../respond.js';
import { CLI_PATHS, JWKS_PATH } from './paths.js';

/**
 * `GET /.well-known/gatehouse/configuration`: public, on every host Gatehouse serves, with every
 * URL on the public origin (the issuer), so a CLI pointed at an application host signs in at
 * Gatehouse's own host and stores its tokens under that issuer.
 */
export function handleConfiguration(res: ServerResponse, ctx: AppContext): void {
  const origin = ctx.publicUrl.origin;
  sendJson(
    res,
    200,
    {
      issuer: origin,
      authorization_endpoint: origin + CLI_PATHS.authorize,
      token_endpoint: origin + CLI_PATHS.token,
      revocation_endpoint: origin + CLI_PATHS.revoke,
      jwks_uri: origin + JWKS_PATH,
      access_token_ttl_seconds: Math.floor(ctx.config.tokens.access_ttl / 1000),
    },
    { 'cache-control': 'public, max-age=300' },
  );
}
