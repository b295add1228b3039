/**
 * Every failure Gatehouse reports carries a stable code, an HTTP status and a public message.
 * The cause (what really went wrong) is for logs only; callers branch on `code`, never on text.
 * `docs/errors.md` lists every code here; a unit test keeps the two in step.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request could not be understood.' },
  BAD_PATH: { status: 400, message: 'The request path uses an ambiguous or forbidden encoding.' },
  BAD_HOST: { status: 400, message: 'The Host header is missing or malformed.' },
  BAD_REDIRECT: { status: 400, message: 'The redirect target is not a Gatehouse route.' },
  CLI_REQUEST_INVALID: { status: 400, message: 'The CLI sign-in request is invalid. Run gatehouse login again.' },
  AUTHENTICATION_REQUIRED: { status: 401, message: 'Sign-in is required.' },
  TOKEN_INVALID: { status: 401, message: 'The Gatehouse token is invalid, expired or revoked.' },
  STEP_UP_REQUIRED: { status: 401, message: 'This resource needs a stronger or more recent sign-in.' },
  ACCESS_DENIED: { status: 403, message: 'You do not have access to this resource.' },
  CSRF_REJECTED: { status: 403, message: 'The request did not come from a Gatehouse page.' },
  SAML_LOGIN_FAILED: { status: 403, message: 'Sign-in failed. Start again from the application.' },
  SAML_LOGOUT_FAILED: { status: 403, message: 'The sign-out message was refused. Close your browser to be sure every session has ended.' },
  ROUTE_NOT_FOUND: { status: 404, message: 'No route serves this address.' },
  UNKNOWN_CONNECTION: { status: 404, message: 'No such sign-in connection.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed on this endpoint.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request body was not received in time.' },
  BODY_TOO_LARGE: { status: 413, message: 'The request body is too large.' },
  URI_TOO_LONG: { status: 414, message: 'The request target is too long.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large.' },
  INTERNAL: { status: 500, message: 'Internal error.' },
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'The upstream service is unavailable.' },
  IDP_METADATA_EXPIRED: { status: 503, message: 'Sign-in through this identity provider is unavailable. Try again later or contact your administrator.' },
  SESSION_STORE_UNAVAILABLE: { status: 503, message: 'Sign-in and sessions are temporarily unavailable. Try again in a minute.' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'The upstream service did not answer in time.' },
} as const;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof ERRORS;

/** An error with a public face (code, status, message) and a private cause for the logs. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly publicMessage: string;
  /** Kebab-case reason for logs and tests (`saml-signature-invalid`); never shown to anonymous users. */
  readonly reason: string;

  constructor(code: ErrorCode, reason: string, cause?: unknown) {
    super(`${code}: ${reason}`, cause === undefined ? undefined : { cause });
    this.name = 'GatehouseError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.publicMessage = ERRORS[code].message;
    this.reason = reason;
  }
}

/** Shorthand for `new GatehouseError(code, reason, cause)`. */
export function fail(code: ErrorCode, reason: string, cause?: unknown): GatehouseError {
  return new GatehouseError(code, reason, cause);
}

/** True when `err` is a GatehouseError (optionally with the given code). */
export function isGatehouseError(err: unknown, code?: ErrorCode): err is GatehouseError {
  return err instanceof GatehouseError && (code === undefined || err.code === code);
}
