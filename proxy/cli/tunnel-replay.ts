import type { IncomingHttpHeaders } from 'node:http';

/** RFC 9110 9.2.2: sending one of these twice has the effect of sending it once (TRACE left out: nothing to gain). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * True when the tunnel may send a request again after Gatehouse refused its token: an idempotent
 * method without a body. A body is streamed upstream as it arrives and not kept, so it cannot be
 * sent twice; POST and PATCH may act twice. (A websocket upgrade has no body and is opened
 * afresh, so it is always retried.)
 */
export function replayable(method: string | undefined, headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  const body = headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  return IDEMPOTENT.has(method ?? '') && !body;
}

/**
 * True when the answer is Gatehouse refusing the token the tunnel sent: 401 with its challenge
 * naming `invalid_token` (RFC 6750 3.1), as sent for TOKEN_INVALID. An upstream's own 401 names
 * another realm or no error.
 */
export function tokenRefused(status: number | undefined, headers: IncomingHttpHeaders): boolean {
  const challenge = String(headers['www-authenticate'] ?? '');
  return status === 401 && /\brealm="gatehouse"/.test(challenge) && /\berror="invalid_token"/.test(challenge);
}
