import type { ServerResponse } from 'node:http';
import type { AppContext } from '../context.js';
import { sendJson } from '../respond.js';
import { servedHost } from '../return-to.js';
import { CLI_PATHS, JWKS_PATH } from './paths.js';

/**
 * `GET /.well-known/gatehouse/configuration`: public, on every host Gatehouse serves, with every
 * URL on the public origin (the issuer), so a CLI pointed at an application host signs in at
 * Gatehouse's own host and stores its tokens under that issuer.
 */
export function handleConfiguration(res: ServerResponse, ctx: AppContext, query: string): void {
  const origin = ctx.publicUrl.origin;
  const asked = new URLSearchParams(query.slice(1)).get('host');
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
      ...(asked !== null ? { host_served: vouchesFor(asked, ctx) } : {}),
    },
    { 'cache-control': 'public, max-age=300' },
  );
}

/**
 * `?host=H`: whether H is a host this Gatehouse names (its own, or a route's `host:`), so the CLI
 * may send it tokens. Routes without `host:` vouch for no other host: any Host header reaches
 * them, which says nothing about who answers at H (a look-alike that copies this document).
 */
function vouchesFor(host: string, ctx: AppContext): boolean {
  const h = host.toLowerCase();
  if (h === ctx.publicUrl.host) return true;
  return h.length <= 300 && URL.canParse(`http://${h}`) && new URL(`http://${h}`).host === h && servedHost(new URL(`http://${h}`), ctx.routeHosts);
}
