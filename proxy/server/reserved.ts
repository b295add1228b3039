import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail } from '../errors.js';
import type { AppContext, RequestScope } from './context.js';
import { handleAdmin } from './endpoints/admin.js';
import { handleDemoIdp } from './endpoints/demo-idp.js';
import { handleScim } from './endpoints/scim.js';
import { handleHealth, handleReady, handleUserinfo } from './endpoints/info.js';
import { handleJwks } from './endpoints/jwks.js';
import { handleSignIn } from './endpoints/sign-in.js';
import { handleLogout } from './endpoints/logout.js';
import { CONFIGURATION_PATH, JWKS_PATH, PATHS } from './endpoints/paths.js';
import { handleSaml } from './endpoints/saml.js';
import type { RequestTarget } from '../path.js';
import { servedHost } from './return-to.js';
import { handleCli } from './endpoints/cli-auth.js';
import { handleConfiguration } from './endpoints/well-known.js';

/** Dispatches `/.gatehouse/*` and `/.well-known/gatehouse/*` to their endpoints. */
export async function handleReserved(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope, target: RequestTarget): Promise<void> {
  const p = target.path;
  scope.route = 'gatehouse';
  if (p.startsWith(PATHS.saml)) return handleSaml(req, res, ctx, scope, target);
  if (p.startsWith(PATHS.demoIdp)) return handleDemoIdp(req, res, ctx, target);
  if (p.startsWith(PATHS.admin) || p.startsWith(PATHS.scim)) {
    // Never on a host a route names for an application (unless it is Gatehouse's own host):
    // that application's scripts would share the admin's origin (with cookie_domain, its cookie).
    if (onApplicationHost(req, ctx)) throw fail('ROUTE_NOT_FOUND', 'admin-not-on-application-hosts');
    if (p.startsWith(PATHS.admin)) return (scope.route = 'gatehouse-admin'), handleAdmin(req, res, ctx, scope, target);
    return (scope.route = 'gatehouse-scim'), handleScim(req, res, ctx, scope, target);
  }
  if (p.startsWith(PATHS.cli)) return (scope.route = 'gatehouse-cli'), handleCli(req, res, ctx, scope, target);
  const getOnly = () => {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw fail('METHOD_NOT_ALLOWED', 'get-only');
  };
  switch (p) {
    case PATHS.logout:
      return handleLogout(req, res, ctx, scope);
    case PATHS.healthz:
      return getOnly(), handleHealth(res);
    case PATHS.readyz:
      return getOnly(), handleReady(res, ctx);
    case PATHS.userinfo:
      return getOnly(), handleUserinfo(req, res, ctx, scope);
    case JWKS_PATH:
      return getOnly(), handleJwks(res, ctx);
    case CONFIGURATION_PATH:
      return getOnly(), handleConfiguration(res, ctx, target.query);
    case PATHS.signin:
    case PATHS.signinLegacy:
      return handleSignIn(req, res, ctx, target);
    default:
      throw fail('ROUTE_NOT_FOUND', 'no-such-endpoint');
  }
}

function onApplicationHost(req: IncomingMessage, ctx: AppContext): boolean {
  const host = (req.headers.host ?? '').toLowerCase();
  if (host === ctx.publicUrl.host || !URL.canParse(`http://${host}`)) return host !== ctx.publicUrl.host;
  return servedHost(new URL(`http://${host}`), ctx.routeHosts);
}
