import type { IncomingMessage, ServerResponse } from 'node:http';
import { fail, isGatehouseError } from '../../errors.js';
import { EVENTS, F } from '../../log.js';
import { joinToken, parseToken, type TokenParts } from '../../session/session-keys.js';
import type { Session } from '../../session/types.js';
import { CLI_CLIENT_ID, redeemCode, verifierMatches } from '../../tokens/cli-codes.js';
import { innerToken, TOKEN_PREFIX, withPrefix } from '../../tokens/prefixes.js';
import type { AppContext, RequestScope } from '../context.js';
import { readForm } from '../form-body.js';
import { sendJson } from '../respond.js';
import { MethodNotAllowed } from '../authorize.js';

type OAuthError = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type';

/** RFC 6749 5.1: token answers are never cached. */
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

/**
 * `POST /.gatehouse/cli/token` (RFC 6749 4.1.3 and 6, with PKCE): code -> access + refresh
 * token; refresh token -> access token. It reads no cookie and sets none, and answers JSON that
 * another site cannot read (no CORS): a forged cross-site post gains nothing. Browsers' posts
 * from another origin are refused anyway; GET is refused (a URL must never carry a code).
 */
export async function handleToken(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const form = await postedForm(req, ctx);
  if (!form) return oauthError(res, scope, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
  if (['grant_type', 'code', 'code_verifier', 'redirect_uri', 'client_id', 'refresh_token'].some((n) => form.getAll(n).length > 1)) {
    return oauthError(res, scope, 'invalid_request', 'a parameter is repeated');
  }
  const grant = form.get('grant_type');
  if (grant === 'authorization_code') return codeGrant(res, ctx, scope, form);
  if (grant === 'refresh_token') return refreshGrant(res, ctx, scope, form);
  return oauthError(res, scope, grant ? 'unsupported_grant_type' : 'invalid_request', grant ? 'grant_type must be authorization_code or refresh_token' : 'grant_type is missing');
}

/**
 * The code is taken out of the store before anything else is checked: a wrong verifier or
 * redirect_uri burns it (RFC 6749 4.1.2: used once; 10.5: a guess must not get a second try).
 */
/** Live CLI sessions one browser sign-in may have approved (docs/cli-tokens.md). */
const MAX_CLI_PER_SIGN_IN = 50;

async function codeGrant(res: ServerResponse, ctx: AppContext, scope: RequestScope, form: URLSearchParams): Promise<void> {
  const given = form.get('code');
  if (!given) return oauthError(res, scope, 'invalid_request', 'code is missing');
  const pending = await redeemCode(ctx.stores.logins, given);
  if (!pending) return oauthError(res, scope, 'invalid_grant', 'the code is unknown, used or expired');
  if (form.get('client_id') !== CLI_CLIENT_ID) return oauthError(res, scope, 'invalid_grant', 'client_id does not match');
  // RFC 6749 4.1.3: the same redirect_uri as the authorization request, compared exactly.
  if (form.get('redirect_uri') !== pending.redirectUri) return oauthError(res, scope, 'invalid_grant', 'redirect_uri does not match the authorization request');
  if (!verifierMatches(form.get('code_verifier'), pending.challenge)) return oauthError(res, scope, 'invalid_grant', 'code_verifier does not match the code_challenge');
  const browser = await ctx.sessions.openBrowser(pending.browser);
  if (!browser) return oauthError(res, scope, 'invalid_grant', 'the browser session that approved the login has ended');
  const who = [browser.identity.user, browser.identity.email];
  if (await ctx.directory.isDeactivated(who)) return oauthError(res, scope, 'invalid_grant', 'the user has been deactivated');
  // Signing in again from one machine revokes that machine's previous CLI session, so a real
  // sign-in never nears the cap; a script minting logins would otherwise pile up sessions that
  // its user's sign-out then has to page through.
  if (browser.lineage && (await ctx.sessionAdmin.countLineageCli(browser.lineage, MAX_CLI_PER_SIGN_IN)) >= MAX_CLI_PER_SIGN_IN) {
    return oauthError(res, scope, 'invalid_grant', `this browser sign-in has approved ${MAX_CLI_PER_SIGN_IN} live CLI logins: run gatehouse logout where they are no longer used, or sign out in the browser to end them all`);
  }
  // Same identity and SAML facts: revocation by user, SCIM deactivation and Single Logout reach it.
  // It ends no later than the browser session that approved it: a login about to expire cannot
  // be stretched by another `max_lifetime` through the CLI. It joins that browser sign-in's
  // lineage, so signing out in the browser ends it too.
  const made = await ctx.sessions.create(browser.identity, browser.saml, { client: 'cli', endsBy: browser.expiresAt, ...(browser.lineage ? { lineage: browser.lineage } : {}) });
  // A deactivation that listed the user's sessions just before this one existed would miss it,
  // and so would a sign-out that listed the lineage: both are checked again, the browser session
  // in the store itself (another instance's cache may not have heard of its end yet).
  const deactivated = await ctx.directory.isDeactivated(who);
  if (deactivated || !(await ctx.sessionAdmin.meta(parseToken(pending.browser)!.id))) {
    await ctx.sessions.destroy(made.token);
    return oauthError(res, scope, 'invalid_grant', deactivated ? 'the user has been deactivated' : 'the browser session that approved the login has ended');
  }
  const parts = parseToken(made.token)!;
  const { identity } = made.session;
  scope.user = identity.user;
  ctx.log.info({ [F.event]: EVENTS.cliLogin, [F.requestId]: scope.id, [F.user]: identity.user, [F.connection]: identity.connection, session_id: parts.id }, 'cli login');
  const now = ctx.clock.now();
  sendJson(
    res,
    200,
    {
      ...accessToken(ctx, parts, made.session),
      refresh_token: withPrefix('refresh', made.token),
      refresh_expires_in: Math.max(0, Math.floor((made.session.expiresAt - now) / 1000)),
      user: identity.user,
      ...(identity.email ? { email: identity.email } : {}),
      groups: identity.groups,
    },
    NO_STORE,
  );
}

/** A new access token while the CLI session lives (RFC 6749 6); the refresh token is not rotated. */
async function refreshGrant(res: ServerResponse, ctx: AppContext, scope: RequestScope, form: URLSearchParams): Promise<void> {
  const given = form.get('refresh_token');
  if (!given) return oauthError(res, scope, 'invalid_request', 'refresh_token is missing');
  const parts = innerToken('refresh', given);
  const session = parts ? await ctx.sessions.open(parts.token) : undefined;
  if (!parts || !session || session.client !== 'cli') return oauthError(res, scope, 'invalid_grant', 'the CLI session has ended: run gatehouse login again');
  scope.user = session.identity.user;
  sendJson(res, 200, accessToken(ctx, parts, session), NO_STORE);
}

/**
 * `POST /.gatehouse/cli/revoke` (RFC 7009): ends the CLI session behind a refresh or access
 * token on every instance (its other access tokens die with it). Always 200 `{}`: the answer
 * says nothing about the token.
 */
export async function handleRevoke(req: IncomingMessage, res: ServerResponse, ctx: AppContext, scope: RequestScope): Promise<void> {
  const form = await postedForm(req, ctx);
  const given = form?.get('token');
  if (!form || !given) return oauthError(res, scope, 'invalid_request', 'token is missing');
  const inner = sessionTokenOf(ctx, given);
  const session = inner ? await ctx.sessions.open(joinToken(inner)) : undefined;
  if (inner && session?.client === 'cli') {
    await ctx.sessions.destroy(joinToken(inner));
    scope.user = session.identity.user;
    ctx.log.info({ [F.event]: EVENTS.cliLogout, [F.requestId]: scope.id, [F.user]: session.identity.user, session_id: inner.id }, 'cli session revoked');
  }
  sendJson(res, 200, {}, NO_STORE);
}

/** The CLI session a refresh or access token names (an expired access token still does). */
function sessionTokenOf(ctx: AppContext, token: string): TokenParts | undefined {
  if (token.startsWith(TOKEN_PREFIX.refresh)) return innerToken('refresh', token);
  const claims = ctx.accessTokens.open(token);
  return claims ? { id: claims.sid, key: claims.key } : undefined;
}

/** A new access token for a CLI session: `tokens.access_ttl`, never past the session's end. */
function accessToken(ctx: AppContext, parts: TokenParts, session: Session): { access_token: string; token_type: 'Bearer'; expires_in: number } {
  const now = ctx.clock.now();
  const exp = Math.min(now + ctx.config.tokens.access_ttl, session.expiresAt);
  return { access_token: ctx.accessTokens.seal(parts, now, exp), token_type: 'Bearer', expires_in: Math.max(0, Math.floor((exp - now) / 1000)) };
}

/**
 * The posted form, or undefined when the body is not a form. Only POST; a browser's post from
 * another origin is refused (the CLI sends no Origin).
 */
async function postedForm(req: IncomingMessage, ctx: AppContext): Promise<URLSearchParams | undefined> {
  if (req.method !== 'POST') throw new MethodNotAllowed(['POST']);
  const origin = req.headers.origin;
  if (req.headers['sec-fetch-site'] === 'cross-site' || (origin !== undefined && origin !== ctx.publicUrl.origin)) throw fail('CSRF_REJECTED', 'cli-token-cross-site');
  try {
    return await readForm(req, 8192);
  } catch (err) {
    if (isGatehouseError(err, 'BAD_REQUEST')) return undefined;
    throw err;
  }
}

/** RFC 6749 5.2 error answer, with our request id. */
function oauthError(res: ServerResponse, scope: RequestScope, error: OAuthError, description: string): void {
  scope.reason = error;
  sendJson(res, 400, { error, error_description: description, request_id: scope.id }, NO_STORE);
}
