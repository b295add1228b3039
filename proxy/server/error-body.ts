import { ERRORS, type ErrorCode } from '../errors.js';
import { CONFIGURATION_PATH } from './endpoints/paths.js';

/**
 * The JSON error body and the 401 challenge, built in this one place for plain requests
 * (respond.ts) and refused websocket handshakes (upgrade.ts), so a script or CLI reads one shape.
 */

/** What a JSON error body may carry beyond the code, the public message and the request id. */
export interface ErrorBodyDetails {
  requestId: string;
  /** Kebab-case reason; the caller passes it only when it may be shown (anonymous users learn nothing). */
  reason?: string;
  loginUrl?: string;
  /** Gatehouse's public origin: a 401 names how a CLI signs in there (`gatehouse login <issuer>`). */
  issuer?: string;
  /** Groups that would grant access (refusals of signed-in users, when the route allows it). */
  grantingGroups?: readonly string[];
}

/** `{ error: { code, message, request_id, reason?, login_url?, login?, granting_groups? } }`. */
export function errorBody(code: ErrorCode, d: ErrorBodyDetails): { error: Record<string, unknown> } {
  const { status, message } = ERRORS[code];
  const error: Record<string, unknown> = { code, message, request_id: d.requestId };
  if (d.reason) error.reason = d.reason;
  if (d.loginUrl) error.login_url = d.loginUrl;
  if (status === 401 && d.issuer) error.login = loginHint(d.issuer, d.loginUrl);
  if (d.grantingGroups?.length) error.granting_groups = d.grantingGroups;
  return { error };
}

/** The WWW-Authenticate value of a refusal with this code: a 401's challenge, none otherwise. */
export function authenticateHeader(code: ErrorCode, loginUrl: string | undefined): string | undefined {
  // RFC 9110 15.5.2: a 401 carries a challenge; ours names the login URL for CLIs.
  return ERRORS[code].status === 401 ? challenge(loginUrl, code) : undefined;
}

/**
 * The WWW-Authenticate challenge of a 401 (RFC 9110 11.6.1, RFC 6750 3): Bearer, since Gatehouse
 * access tokens are bearer tokens, with the browser login URL as an extra parameter.
 */
function challenge(loginUrl: string | undefined, code: ErrorCode): string {
  // RFC 6750 3.1: a presented token that was refused is `invalid_token`.
  const scheme = code === 'TOKEN_INVALID' ? 'Bearer realm="gatehouse", error="invalid_token"' : 'Bearer realm="gatehouse"';
  return loginUrl ? `${scheme}, login_url="${loginUrl.replace(/"/g, '%22')}"` : scheme;
}

/**
 * The `login` hint of every 401 JSON answer: how a person signs in with a browser (when this
 * request has a place to return to), how a CLI does (`gatehouse login`), and where a client finds
 * the token endpoints. Scripts and CLIs never get an HTML page (see wantsPage in respond.ts).
 */
export function loginHint(issuer: string, loginUrl: string | undefined): Record<string, string> {
  return {
    ...(loginUrl ? { browser: loginUrl } : {}),
    cli: `gatehouse login ${issuer}`,
    configuration: issuer + CONFIGURATION_PATH,
  };
}
