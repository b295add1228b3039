import { CLI_PATHS, CONFIGURATION_PATH } from '../server/endpoints/paths.js';
import { CLI_CLIENT_ID } from '../tokens/cli-codes.js';
import { TOKEN_PREFIX } from '../tokens/prefixes.js';
import { CliError } from './cli-error.js';

/** `GET /.well-known/gatehouse/configuration`, as the CLI uses it. */
export interface Discovery {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  revocation_endpoint: string;
  access_token_ttl_seconds?: number;
}

/** A token endpoint answer (RFC 6749 5.1) with Gatehouse's extra fields on a code exchange. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
  user?: string;
  email?: string;
  groups?: string[];
}

/** The token endpoint refused (RFC 6749 5.2): `error` is `invalid_grant` when the session ended. */
export class TokenEndpointError extends CliError {
  constructor(
    readonly error: string,
    readonly status: number,
    description: string,
  ) {
    super(`the token endpoint refused: ${error}${description ? ` (${description})` : ''}`);
  }
}

const TIMEOUT_MS = 30_000;

/** The token, revocation and authorization endpoints of an issuer (always on its own origin). */
export function endpointsOf(issuer: string): Omit<Discovery, 'issuer'> {
  return {
    authorization_endpoint: new URL(CLI_PATHS.authorize, issuer).href,
    token_endpoint: new URL(CLI_PATHS.token, issuer).href,
    revocation_endpoint: new URL(CLI_PATHS.revoke, issuer).href,
  };
}

/** 127.0.0.0/8, ::1 and localhost: the only hosts where plain http keeps tokens on this computer. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Refuses plain http to anything but loopback: tokens would cross the network in clear. */
function requireSecureOrigin(origin: string): void {
  const u = new URL(origin);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopbackHost(u.hostname))) {
    throw new CliError(`${origin} is not https: tokens are only sent over TLS (plain http only to loopback)`);
  }
}

/**
 * Reads the discovery document of the Gatehouse serving `url`. Its endpoints must be on the
 * issuer's origin, which must be https (or loopback): a host cannot send our code elsewhere.
 */
export async function discover(url: string): Promise<Discovery> {
  const origin = new URL(url).origin;
  requireSecureOrigin(origin);
  const where = new URL(CONFIGURATION_PATH, origin).href;
  const res = await fetch(where, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((e: Error) => {
    throw new CliError(`cannot reach ${where}: ${e.cause instanceof Error ? e.cause.message : e.message}`);
  });
  if (!res.ok) throw new CliError(`${where} answered ${res.status}: is ${origin} a Gatehouse with CLI access?`);
  const doc = (await res.json().catch(() => ({}))) as Partial<Record<keyof Discovery, unknown>>;
  const issuer = typeof doc.issuer === 'string' && URL.canParse(doc.issuer) ? new URL(doc.issuer).origin : undefined;
  if (!issuer) throw new CliError(`${where} has no valid issuer: is ${origin} a Gatehouse with CLI access?`);
  requireSecureOrigin(issuer);
  const endpoint = (k: 'authorization_endpoint' | 'token_endpoint' | 'revocation_endpoint'): string => {
    const v = doc[k];
    if (typeof v !== 'string' || !URL.canParse(v) || new URL(v).origin !== issuer) throw new CliError(`${where}: ${k} must be a URL on ${issuer}`);
    return v;
  };
  const ttl = typeof doc.access_token_ttl_seconds === 'number' ? doc.access_token_ttl_seconds : undefined;
  return {
    issuer,
    authorization_endpoint: endpoint('authorization_endpoint'),
    token_endpoint: endpoint('token_endpoint'),
    revocation_endpoint: endpoint('revocation_endpoint'),
    ...(ttl !== undefined ? { access_token_ttl_seconds: ttl } : {}),
  };
}

/**
 * True when the issuer itself (asked at its own origin, not at `host`) names `host` as one it
 * serves. A look-alike host can copy the issuer's discovery document; only the issuer's answer
 * decides where the CLI may send tokens.
 */
export async function issuerVouchesFor(issuer: string, host: string): Promise<boolean> {
  const where = new URL(CONFIGURATION_PATH, issuer);
  where.searchParams.set('host', new URL(host).host);
  const res = await fetch(where, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) }).catch((e: Error) => {
    throw new CliError(`cannot reach ${issuer}: ${e.cause instanceof Error ? e.cause.message : e.message}`);
  });
  const doc = (await res.json().catch(() => ({}))) as { issuer?: unknown; host_served?: unknown };
  return res.ok && doc.issuer === issuer && doc.host_served === true;
}

/** POSTs a form to a token-style endpoint; JSON back. Never puts a token in an error message. */
async function postForm(endpoint: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(form).toString(),
    redirect: 'error',
    signal: AbortSignal.timeout(TIMEOUT_MS),
  }).catch((e: Error) => {
    throw new CliError(`cannot reach ${endpoint}: ${e.cause instanceof Error ? e.cause.message : e.message}`);
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, body };
}

function tokenAnswer(status: number, body: Record<string, unknown>): TokenResponse {
  if (status !== 200) {
    throw new TokenEndpointError(typeof body.error === 'string' ? body.error : `http-${status}`, status, typeof body.error_description === 'string' ? body.error_description : '');
  }
  if (typeof body.access_token !== 'string' || !body.access_token.startsWith(TOKEN_PREFIX.access) || typeof body.expires_in !== 'number') {
    throw new CliError('the token endpoint answered without a Gatehouse access token');
  }
  if (body.refresh_token !== undefined && (typeof body.refresh_token !== 'string' || !body.refresh_token.startsWith(TOKEN_PREFIX.refresh))) {
    throw new CliError('the token endpoint answered with a malformed refresh token');
  }
  return body as unknown as TokenResponse;
}

/** Exchanges a one-time code (with the PKCE verifier that proves this process asked for it). */
export async function exchangeCode(tokenEndpoint: string, o: { code: string; verifier: string; redirectUri: string }): Promise<TokenResponse & { refresh_token: string }> {
  const { status, body } = await postForm(tokenEndpoint, { grant_type: 'authorization_code', code: o.code, code_verifier: o.verifier, redirect_uri: o.redirectUri, client_id: CLI_CLIENT_ID });
  const answer = tokenAnswer(status, body);
  if (answer.refresh_token === undefined) throw new CliError('the token endpoint answered without a refresh token');
  return answer as TokenResponse & { refresh_token: string };
}

/** A fresh access token for a refresh token. @throws TokenEndpointError `invalid_grant` once the session ended */
export async function refreshAccess(tokenEndpoint: string, refreshToken: string): Promise<TokenResponse> {
  const { status, body } = await postForm(tokenEndpoint, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLI_CLIENT_ID });
  return tokenAnswer(status, body);
}

/** Revokes a token (RFC 7009: 200 whatever the token was). @throws CliError unreachable or refused */
export async function revokeToken(revocationEndpoint: string, token: string): Promise<void> {
  const { status } = await postForm(revocationEndpoint, { token, client_id: CLI_CLIENT_ID });
  if (status !== 200) throw new CliError(`${revocationEndpoint} answered ${status}`);
}
