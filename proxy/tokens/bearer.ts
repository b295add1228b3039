import type { Clock } from '../clock.js';
import { joinToken } from '../session/session-keys.js';
import type { Session } from '../session/types.js';
import type { AccessTokens } from './access-token.js';
import { bearerValue, isGatehouseToken, TOKEN_PREFIX } from './prefixes.js';
import { openServiceToken, type ServiceTokenContext } from './service-tokens.js';

/** What opening a bearer needs (an AppContext has it). */
export interface BearerContext extends ServiceTokenContext {
  accessTokens: AccessTokens;
  clock: Clock;
}

const AUTHORIZATION = 'authorization';
const PROXY_AUTHORIZATION = 'proxy-authorization';

/** What a presented Gatehouse token opened to, or why it opened to nothing. */
export type BearerResult = { session: Session; sessionId: string } | { reason: string };

/**
 * The Gatehouse token a request presents, or undefined when it presents none (then the cookie
 * decides). Ours are: any `Proxy-Authorization: Bearer` (that header is meant for Gatehouse),
 * and an `Authorization: Bearer` with one of our prefixes; any other `Authorization` is the
 * upstream's and left alone. Every line of `rawHeaders` (IncomingMessage.rawHeaders) is read,
 * duplicates included: a second, different token of ours makes the request ambiguous, returned
 * as `{ reason }`.
 */
export function presentedToken(rawHeaders: readonly string[]): string | { reason: string } | undefined {
  let found: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i]!;
    // Length first: most requests carry neither header, and this spares a lower-casing per line.
    if (raw.length !== AUTHORIZATION.length && raw.length !== PROXY_AUTHORIZATION.length) continue;
    const name = raw.toLowerCase();
    if (name !== AUTHORIZATION && name !== PROXY_AUTHORIZATION) continue;
    const token = bearerValue(rawHeaders[i + 1]!);
    if (token === undefined || (name === AUTHORIZATION && !isGatehouseToken(token))) continue;
    if (found !== undefined && found !== token) return { reason: 'several-tokens' };
    found = token;
  }
  return found;
}

/**
 * Opens a presented token to its live session. Access tokens: prefix, seal, expiry, then the
 * CLI session they name (so logout, revocation, idle and expiry end them at once). Service
 * tokens: the account must still be in the config (tokens/service-tokens.ts). A refresh token is never a bearer on routes.
 */
export async function openBearer(ctx: BearerContext, token: string): Promise<BearerResult> {
  if (token.startsWith(TOKEN_PREFIX.access)) {
    const claims = ctx.accessTokens.open(token);
    if (!claims) return { reason: 'access-token-invalid' };
    if (ctx.clock.now() >= claims.exp) return { reason: 'access-token-expired' };
    const session = await ctx.sessions.open(joinToken({ id: claims.sid, key: claims.key }));
    if (!session) return { reason: 'session-ended' };
    if (session.client !== 'cli') return { reason: 'not-a-cli-session' };
    return { session, sessionId: claims.sid };
  }
  if (token.startsWith(TOKEN_PREFIX.service)) {
    const opened = await openServiceToken(ctx, token);
    return opened ? { session: opened.session, sessionId: opened.id } : { reason: 'service-token-invalid' };
  }
  if (token.startsWith(TOKEN_PREFIX.refresh)) return { reason: 'refresh-token-not-bearer' };
  return { reason: 'not-a-gatehouse-token' };
}
