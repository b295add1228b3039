import { joinToken, parseToken, type TokenParts } from '../session/session-keys.js';

/**
 * The prefixes that mark Gatehouse's own tokens (docs/cli-tokens.md). They are how a bearer is
 * recognised as ours, and how header hygiene knows never to forward one upstream. Not GitHub's
 * `gh*_` namespace: a CI job's GitHub token (`ghs_…`) must pass to an upstream that expects it.
 */
export const TOKEN_PREFIX = {
  /** Access token: short-lived, accepted as a bearer on routes. */
  access: 'gta_',
  /** Refresh token of a CLI session: only the token and revocation endpoints take it. */
  refresh: 'gtr_',
  /** Service-account token: accepted as a bearer on routes. */
  service: 'gts_',
} as const;

/** The kinds of token whose body is a session token `<id>.<key>` (an access token is sealed instead). */
export type SessionTokenKind = 'refresh' | 'service';

/** A session token (`<id>.<key>`) presented as a token of this kind: `gtr_…` or `gts_…`. */
export function withPrefix(kind: SessionTokenKind, sessionToken: string): string {
  return TOKEN_PREFIX[kind] + sessionToken;
}

/** The session token inside a token of this kind, with its parts; undefined when it is not one. */
export function innerToken(kind: SessionTokenKind, token: string): (TokenParts & { token: string }) | undefined {
  if (!token.startsWith(TOKEN_PREFIX[kind])) return undefined;
  const parts = parseToken(token.slice(TOKEN_PREFIX[kind].length));
  return parts ? { ...parts, token: joinToken(parts) } : undefined;
}

const BEARER = /^bearer[ \t]+/i;

/** The token of a `Bearer` credential (RFC 6750 2.1), or undefined for another scheme. */
export function bearerValue(header: string): string | undefined {
  const m = BEARER.exec(header);
  return m ? header.slice(m[0].length).trim() : undefined;
}

/** True when the value carries one of our prefixes (access, refresh or service token). */
export function isGatehouseToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX.access) || token.startsWith(TOKEN_PREFIX.service) || token.startsWith(TOKEN_PREFIX.refresh);
}

/** True when an `Authorization` header value is a Bearer carrying one of our tokens (never forwarded). */
export function carriesGatehouseToken(header: string): boolean {
  const token = bearerValue(header);
  return token !== undefined && isGatehouseToken(token);
}
