import { parseDuration } from '../config/duration.js';
import { AUDIT_KINDS, type AuditEntry, type AuditKind, type AuditQuery, type AuditVerdict } from './saml-audit-types.js';

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1_000;

/** Raw filters as typed on the command line or in a query string. */
export interface AuditFilters {
  email?: string;
  since?: string;
  connection?: string;
  verdict?: string;
  kind?: string;
  limit?: string;
}

/**
 * Turns filters into a query, or a message saying what is wrong. `since` is a duration back from
 * now (`2h`, `30m`, `7d`) or an ISO 8601 time (`2026-01-31T09:00:00Z`).
 */
export function parseAuditQuery(f: AuditFilters, now: number): AuditQuery | string {
  const q: AuditQuery = { limit: DEFAULT_LIMIT };
  if (f.email !== undefined && f.email.trim() !== '') q.email = f.email.trim();
  if (f.connection !== undefined && f.connection !== '') q.connection = f.connection;
  if (f.since !== undefined && f.since !== '') {
    const since = parseSince(f.since, now);
    if (since === undefined) return `since: "${f.since}" is neither a duration (2h, 30m, 7d) nor an ISO time (2026-01-31T09:00:00Z)`;
    q.since = since;
  }
  if (f.verdict !== undefined && f.verdict !== '') {
    if (f.verdict !== 'accepted' && f.verdict !== 'refused') return 'verdict: use accepted or refused';
    q.verdict = f.verdict as AuditVerdict;
  }
  if (f.kind !== undefined && f.kind !== '') {
    if (!AUDIT_KINDS.includes(f.kind as AuditKind)) return `kind: use ${AUDIT_KINDS.join(', ')}`;
    q.kind = f.kind as AuditKind;
  }
  if (f.limit !== undefined && f.limit !== '') {
    const n = Number(f.limit);
    if (!Number.isInteger(n) || n < 1 || n > MAX_LIMIT) return `limit: a whole number from 1 to ${MAX_LIMIT}`;
    q.limit = n;
  }
  return q;
}

/** `2h` -> now - 2h; an ISO time -> that instant; undefined when neither. */
export function parseSince(text: string, now: number): number | undefined {
  const ms = parseDuration(text);
  if (ms !== undefined) return now - ms;
  if (!/^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) return undefined;
  const at = Date.parse(text.trim());
  return Number.isNaN(at) ? undefined : at;
}

/** An entry as the admin API and `gatehouse audit saml --json` show it. */
export function publicEntry(e: AuditEntry, withXml: boolean) {
  return {
    id: e.id,
    time: new Date(e.at).toISOString(),
    req_id: e.req_id,
    kind: e.kind,
    connection: e.connection,
    client_ip: e.client_ip,
    verdict: e.verdict,
    code: e.code ?? null,
    reason: e.reason,
    claims_verified: e.claims_verified,
    claims: e.claims,
    ...(e.claims_error ? { claims_error: e.claims_error } : {}),
    xml_bytes: e.xml_bytes,
    xml_truncated: e.xml_truncated,
    ...(withXml ? { xml: e.xml } : {}),
  };
}

/** One line per message: time, verdict, code/reason, connection, email, IP, req_id (each field one safe token). */
export function auditLine(e: AuditEntry): string {
  const email = e.claims.email ? `${oneLine(e.claims.email)}${e.claims_verified ? '' : ' (unverified)'}` : '-';
  const what = e.code ? `${e.code}/${e.reason}` : e.reason;
  return [new Date(e.at).toISOString(), e.kind, e.verdict, oneLine(what), oneLine(e.connection), email, oneLine(e.client_ip) || '-', oneLine(e.req_id)].join('  ');
}

/**
 * Text an IdP (or anyone posting to the ACS) wrote, made safe for a terminal: control characters
 * and bidi overrides (escape sequences that could rewrite the screen, fake lines) shown as `\u{NN}`; tab and newline kept.
 */
export function terminalSafe(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u{${c.charCodeAt(0).toString(16)}}`);
}

function oneLine(text: string): string {
  return terminalSafe(text).replace(/\s/g, '_');
}
