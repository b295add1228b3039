import { pino, destination as pinoDestination, stdTimeFunctions, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Every structured log field Gatehouse writes, named once. */
export const F = {
  requestId: 'req_id',
  event: 'event',
  route: 'route',
  user: 'user',
  connection: 'connection',
  status: 'status',
  method: 'method',
  path: 'path',
  host: 'host',
  durationMs: 'duration_ms',
  decision: 'decision',
  reasons: 'reasons',
  code: 'code',
  reason: 'reason',
  clientIp: 'client_ip',
  upstream: 'upstream',
  /** SHA-256 fingerprint of the SP key an encrypted assertion was decrypted with (key rollover). */
  spKey: 'sp_key',
  /** How many CLI sessions a browser sign-out ended with it (its lineage). */
  cliSessionsEnded: 'cli_sessions_ended',
} as const;

/** Event names: one access line and one decision record per request, plus lifecycle events. */
export const EVENTS = {
  access: 'access',
  decision: 'decision',
  login: 'login',
  loginFailed: 'login-failed',
  /** An unsolicited response answered with a fresh SP-initiated login (`idp_initiated: restart`). */
  loginRestarted: 'login-restarted',
  logout: 'logout',
  /** A CLI login (`gatehouse login`) redeemed its code: a CLI session started. */
  cliLogin: 'cli-login',
  /** A CLI session ended through the revocation endpoint (`gatehouse logout`). */
  cliLogout: 'cli-logout',
  logoutFailed: 'logout-failed',
  /** A verified SAML logout message (LogoutRequest or LogoutResponse) and what it did. */
  samlLogout: 'saml-logout',
  error: 'error',
  startup: 'startup',
  shutdown: 'shutdown',
  storeDown: 'store-down',
  storeRecovered: 'store-recovered',
  sessionsRevoked: 'sessions-revoked',
  samlAuditFailed: 'saml-audit-failed',
  samlAuditRead: 'saml-audit-read',
  metadataRefreshed: 'idp-metadata-refreshed',
  metadataRefreshRequested: 'idp-metadata-refresh-requested',
  metadataRefreshAnnounced: 'idp-metadata-refresh-announced',
  serviceTokenCreated: 'service-token-created',
  serviceTokenRevoked: 'service-token-revoked',
} as const;

/** Log level names accepted in config. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * The process logger. JSON lines on stdout (or `destination`, for tests). Cookies, tokens and raw
 * assertions are never passed to it above debug level; the redact list is a second fence.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'gatehouse' },
      messageKey: 'msg',
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['cookie', 'headers.cookie', 'headers.authorization', 'SAMLResponse', 'samlResponse', 'token'],
        censor: '[redacted]',
      },
    },
    destination ?? batchedStdout(),
  );
}

/**
 * stdout written in batches of 4 KiB (one write per many lines, not per line: the access log is
 * on the hot path), flushed at least every 250 ms and on exit.
 */
function batchedStdout(): DestinationStream {
  const dest = pinoDestination({ sync: false, minLength: 4096 });
  setInterval(() => dest.flush(), 250).unref();
  process.once('exit', () => dest.flushSync());
  return dest;
}
