import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { CompiledRoute } from '../policy/compile.js';
import type { Identity } from '../policy/types.js';
import { isTrusted } from '../server/trusted-proxies.js';
import { cleanRequestHeaders, type StripSet, fold } from './header-hygiene.js';
import { claimHeaderValue, encodeIdentity, groupsHeaderFor } from './identity-headers.js';
import { JWT_HEADER, type IdentityJwt } from './identity-jwt.js';

/** Facts about the client connection needed for forwarding headers. */
export interface ClientFacts {
  host: string;
  requestId: string;
  proto: 'http' | 'https';
  trustedProxies: BlockList;
  /** False when no proxy is trusted: skips the address check on the hot path. */
  anyTrustedProxy: boolean;
}

/** What `upstreamHeaders` builds from: the request, its route and who is signed in. */
export interface UpstreamHeadersOptions {
  req: IncomingMessage;
  route: CompiledRoute;
  /** The signed-in identity, or undefined (anonymous): required, so no caller forgets it. */
  identity: Identity | undefined;
  strip: StripSet;
  client: ClientFacts;
  /** A websocket handshake: the client's Upgrade is kept and `Connection: Upgrade` added (default false). */
  upgrade?: boolean;
  /** The route's `upstream_auth` header, [name, value]. */
  credential?: readonly [string, string];
  /** Signs X-Gatehouse-Jwt-Assertion on `identity_jwt` routes. */
  jwt?: IdentityJwt;
}

/**
 * The headers sent upstream: the client's, cleaned (see header-hygiene), then ours:
 * Host, X-Forwarded-For/Proto/Host, X-Request-Id, and the identity headers when signed in.
 * X-Forwarded-For keeps the client's chain only when the peer is a trusted proxy.
 * On `identity_jwt` routes, a signed-in identity also gets X-Gatehouse-Jwt-Assertion from `jwt`.
 */
export function upstreamHeaders({ req, route, identity, strip, client: c, upgrade = false, credential, jwt }: UpstreamHeadersOptions): string[] {
  const peer = req.socket.remoteAddress ?? '';
  const trusted = c.anyTrustedProxy && isTrusted(c.trustedProxies, peer);
  const priorFor = trusted ? req.headers['x-forwarded-for'] : undefined;
  const priorProto = trusted ? req.headers['x-forwarded-proto'] : undefined;
  let h = cleanRequestHeaders(req.rawHeaders, strip, upgrade);
  if (credential) {
    // `upstream_auth`: the client's copy of that header (any case, `_` for `-`) never reaches the upstream.
    const name = fold(credential[0]);
    h = h.filter((_v, i, all) => fold(all[i - (i % 2)]!) !== name);
  }
  h.push(
    'host', route.preserveHost ? c.host : route.upstreamHost,
    'x-forwarded-for', priorFor ? `${priorFor}, ${peer}` : peer,
    'x-forwarded-proto', typeof priorProto === 'string' ? priorProto : c.proto,
    'x-forwarded-host', c.host,
    'x-request-id', c.requestId,
  );
  if (upgrade) h.push('connection', 'Upgrade');
  if (credential) h.push(credential[0], credential[1]);
  if (identity) {
    const enc = encodeIdentity(identity);
    h.push(route.headers.user, enc.user);
    if (enc.email) h.push(route.headers.email, enc.email);
    const groups = groupsHeaderFor(identity, route.forwardGroups);
    if (groups !== undefined) h.push(route.headers.groups, groups);
    for (const [claim, header] of route.forwardClaims) {
      // Own properties only: a claim named like an Object.prototype member must not read one.
      const values = identity.claims && Object.hasOwn(identity.claims, claim) ? identity.claims[claim] : undefined;
      if (Array.isArray(values) && values.length > 0) h.push(header, claimHeaderValue(identity, claim, values));
    }
    if (route.identityJwt && jwt) h.push(JWT_HEADER, jwt.assertion(identity, route));
  }
  return h;
}

/** The upstream path: the upstream URL's base path (if any) + the checked path + the query. */
export function upstreamPath(route: CompiledRoute, path: string, query: string): string {
  return route.upstreamBase + path + query;
}
