import type { IncomingMessage } from 'node:http';
import { upstreamHeaders, type UpstreamHeadersOptions } from '../forward/upstream-headers.js';
import type { Authorized } from './authorize.js';
import type { AppContext, RequestScope } from './context.js';

/**
 * The headers an authorized request goes upstream with, plain requests and websocket handshakes
 * alike: one place maps the app state onto upstreamHeaders, so neither path can forget the strip
 * set, the route's credential or the identity JWT the other one sends.
 */
export function forwardedHeaders(req: IncomingMessage, ctx: AppContext, scope: RequestScope, ok: Authorized, o: Pick<UpstreamHeadersOptions, 'upgrade'> = {}): string[] {
  return upstreamHeaders({
    req,
    route: ok.route,
    identity: ok.session?.identity,
    strip: ctx.strip,
    client: { ...ctx.forwarding, host: ok.host, requestId: scope.id },
    upgrade: o.upgrade,
    credential: ctx.credentials.get(ok.route),
    jwt: ctx.identityJwt,
  });
}
