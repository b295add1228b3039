import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERRORS, type ErrorCode } from '../errors.js';
import { PATHS } from './endpoints/paths.js';
import { authenticateHeader, errorBody, type ErrorBodyDetails } from './error-body.js';
import { errorPage, esc } from './html.js';

/** Headers on every page Gatehouse itself serves: no caching, no framing, no scripts. */
export const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

/** The page CSP with `form-action` set to these sources (a form or its redirect must reach an IdP). */
export function cspWithFormAction(sources: string): string {
  return PAGE_HEADERS['content-security-policy'].replace("form-action 'self'", `form-action ${sources}`);
}

const requestIds = new WeakMap<ServerResponse, string>();

/**
 * Remembers the request id of a response; Gatehouse's own responses carry it as X-Request-Id.
 * (Not `setHeader`: proxied responses write a raw header list, which setHeader would merge.)
 */
export function tagResponse(res: ServerResponse, requestId: string): void {
  requestIds.set(res, requestId);
}

function withId(res: ServerResponse, headers: Record<string, string | number | string[]>): Record<string, string | number | string[]> {
  const id = requestIds.get(res);
  return id ? { ...headers, 'x-request-id': id } : headers;
}

/** True when a person's browser loads this as a page (any method): it gets HTML, not JSON. */
export function wantsPage(req: IncomingMessage): boolean {
  if (req.headers.upgrade || req.headers['x-requested-with']) return false;
  const mode = req.headers['sec-fetch-mode'];
  if (mode && mode !== 'navigate') return false;
  return (req.headers.accept ?? '').includes('text/html');
}

/**
 * True for a browser navigation that may be redirected to sign in: a page load with GET/HEAD.
 * Everything else (API, CLI, XHR, fetch, websockets, POSTs) gets a 401 it can act on.
 */
export function isBrowserNavigation(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && wantsPage(req);
}

/** Sends an HTML page with the page headers. */
export function sendHtml(res: ServerResponse, status: number, html: string, extra: Record<string, string | string[]> = {}): void {
  res.writeHead(status, withId(res, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), ...extra }));
  res.end(res.req.method === 'HEAD' ? undefined : html);
}

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, withId(res, { 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff', ...extra }));
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Redirects (302 for GET flows, 303 after a POST). */
export function redirect(res: ServerResponse, location: string, status: 302 | 303 = 302, extra: Record<string, string | string[]> = {}): void {
  res.writeHead(status, withId(res, { location, 'cache-control': 'no-store', 'content-length': 0, ...extra }));
  res.end();
}

/** What an error response may reveal beyond the public message (the JSON body's part: error-body.ts). */
export interface ErrorDetails extends ErrorBodyDetails {
  /** The signed-in user, shown on refusals with a way to switch accounts. */
  user?: string;
}

/** Sends an error as HTML for browsers and JSON for everything else. */
export function sendError(res: ServerResponse, code: ErrorCode, d: ErrorDetails, extra: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { status, message } = ERRORS[code];
  const auth = authenticateHeader(code, d.loginUrl);
  if (auth) extra = { ...extra, 'www-authenticate': auth };
  // Whoever presents a bearer token is a program (or the CLI's tunnel): always JSON.
  if (wantsPage(res.req) && code !== 'TOKEN_INVALID') {
    const link = d.loginUrl ? `<p><a class="button" href="${esc(d.loginUrl)}">Sign in</a></p>` : '';
    const reason = d.reason ? `<p class="muted">Reason: <code>${esc(d.reason)}</code></p>` : '';
    const groups = d.grantingGroups?.length
      ? `<p>Access is granted to members of: ${d.grantingGroups.map((g) => `<code>${esc(g)}</code>`).join(', ')}. Ask for one of these groups at your identity provider.</p>`
      : '';
    const who = d.user ? `<p class="muted">Signed in as <strong>${esc(d.user)}</strong> · <a href="${PATHS.logout}">Sign out or switch account</a></p>` : '';
    sendHtml(res, status, errorPage(titleOf(status), message, code, d.requestId, groups + reason + who + link), extra);
    return;
  }
  sendJson(res, status, errorBody(code, d), extra);
}

function titleOf(status: number): string {
  if (status === 401) return 'Sign-in required';
  if (status === 403) return 'Access denied';
  if (status === 404) return 'Not found';
  if (status === 405) return 'Method not allowed';
  if (status >= 500) return 'Service unavailable';
  return 'Bad request';
}
