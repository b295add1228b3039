/** Which SAML message was received. */
export type AuditKind = 'response' | 'logout-request' | 'logout-response';
export const AUDIT_KINDS: readonly AuditKind[] = ['response', 'logout-request', 'logout-response'];

/** What Gatehouse did with it. */
export type AuditVerdict = 'accepted' | 'refused';

/**
 * What a message said about who and how, best effort. Every field is optional: a refused or
 * garbled message may carry none. Strings are capped (see saml-claims.ts).
 */
export interface AuditClaims {
  name_id?: string;
  name_id_format?: string;
  email?: string;
  groups?: string[];
  user?: string;
  authn_context?: string;
  session_index?: string;
  issuer?: string;
  in_response_to?: string;
  /** ID of the message itself (Response, LogoutRequest, LogoutResponse). */
  message_id?: string;
  assertion_id?: string;
  destination?: string;
  /** Top-level StatusCode (and the second-level one after a space, when present). */
  status?: string;
  /** The assertion was encrypted: nothing inside it could be read without verification. */
  encrypted?: boolean;
  /** Every attribute of the assertion by name (capped: 32 names, 32 values, 256 characters). */
  attributes?: Record<string, string[]>;
}

/**
 * One received message, as its endpoint reports it once the verdict is known. The message is
 * given either decoded (`rawXml`) or as it arrived (`encoded`, decoded later off the request path).
 */
export interface AuditRecordInput {
  kind: AuditKind;
  /** The connection id from the endpoint path. */
  connection: string;
  /** The client address (after trusted_proxies), as for `source_ip` rules. */
  clientIp: string;
  /** The request id (X-Request-Id, `req_id` in logs). */
  reqId: string;
  rawXml?: string;
  /** The form/query value as received: `post` is base64, `redirect` base64 of DEFLATE (bindings 3.4.4.1). */
  encoded?: { value: string; binding: 'post' | 'redirect' };
  /** Size in bytes of a message that was not read at all (a body over the limit). */
  unreadBytes?: number;
  verdict: AuditVerdict;
  /** Error code of a refusal (`SAML_LOGIN_FAILED`, ...); absent when accepted. */
  code?: string;
  /** Private kebab-case reason (`assertion-replayed`) or, when accepted, what followed (`login`). */
  reason: string;
  /**
   * Claims from the verified result (accepted messages). Absent: extracted from the XML and
   * marked unverified. For accepted messages, fields these lack are filled from the XML.
   */
  claims?: AuditClaims;
}

/** One stored message, opened. */
export interface AuditEntry {
  id: string;
  /** Epoch ms when recorded. */
  at: number;
  req_id: string;
  kind: AuditKind;
  connection: string;
  client_ip: string;
  verdict: AuditVerdict;
  code?: string;
  reason: string;
  claims: AuditClaims;
  /** True only when the claims come from a verified message; otherwise they are what the sender wrote. */
  claims_verified: boolean;
  /** Why claims could not be read (`xml-malformed`, `not-base64`, `too-large`), if so. */
  claims_error?: string;
  /** Size of the whole decoded message in bytes (before any cut). */
  xml_bytes: number;
  /** The XML was cut at `max_xml_bytes` (or not kept: `max_xml_bytes: 0`). */
  xml_truncated: boolean;
  /** The decoded message, possibly cut; not-XML input kept as received. */
  xml: string;
}

/** Filters of a listing; all optional. */
export interface AuditQuery {
  email?: string;
  /** Epoch ms: only messages recorded at or after. */
  since?: number;
  connection?: string;
  verdict?: AuditVerdict;
  kind?: AuditKind;
  /** Most entries returned (newest first). */
  limit: number;
}

/** A stored, sealed entry: only the id and the time are in the clear. */
export interface SealedEntry {
  id: string;
  at: number;
  sealed: string;
}

/**
 * Where entries live: process memory or the shared Redis. Entries expire by themselves after the
 * retention; the store keeps at most `maxEntries` (the oldest go first) and an index of all
 * entries and one per email key, both sorted by time.
 */
export interface AuditStore {
  readonly kind: 'memory' | 'redis';
  /** Stores one entry under the given index keys; fails fast (never waits for a reconnect). */
  add(entry: SealedEntry, indexKeys: readonly string[], retentionMs: number, maxEntries: number): Promise<void>;
  /** Entries of one index (undefined: all) at or after `since`, newest first, from `offset`. */
  recent(indexKey: string | undefined, since: number, limit: number, offset: number): Promise<SealedEntry[]>;
}
