import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Clock } from '../clock.js';
import { isGatehouseError } from '../errors.js';
import { EVENTS, F, type Logger } from '../log.js';
import type { AuditSeal } from './audit-seal.js';
import { capClaims, cutUtf8, decodeMessage, extractClaims } from './saml-claims.js';
import type { AuditEntry, AuditQuery, AuditRecordInput, AuditStore } from './saml-audit-types.js';

/** `saml.audit` as configured. */
export interface AuditSettings {
  /** Milliseconds each message is kept; 0: nothing is recorded. */
  retentionMs: number;
  /** Bytes of decoded XML kept per message (0: none). */
  maxXmlBytes: number;
  maxEntries: number;
  /** Messages larger than this (decoded) are not parsed for claims (saml.max_response_bytes). */
  maxParseBytes: number;
}

/** Writes in flight beyond which new records are dropped (and counted) rather than queued. */
const MAX_IN_FLIGHT = 256;
/** At most one "not recorded" line per this many ms; the lines count what was dropped meanwhile. */
const LOG_EVERY_MS = 10_000;
/** Entries a filtered listing opens at most before it stops and says `truncated`. */
const MAX_SCANNED = 10_000;
const PAGE = 200;

/** What `list` returns. */
export interface AuditListing {
  entries: AuditEntry[];
  /** More matching entries may exist beyond what was scanned or returned. */
  truncated: boolean;
}

/**
 * The SAML audit trail: every SAML message an endpoint received, with its verdict, kept sealed
 * for `saml.audit.retention` (docs/saml-audit.md).
 *
 * `record` is the one call endpoints make, once the verdict is known. It never throws and never
 * delays the answer: the work (decoding, claims, sealing, the store write) runs after the
 * current request's code has returned (setImmediate), bounded in flight; a failure is logged
 * with code SAML_AUDIT_NOT_RECORDED and changes nothing about the login.
 */
export class SamlAudit {
  private inFlight = new Set<Promise<void>>();
  private dropped = 0;
  private failures = 0;
  private lastLogged = -Infinity;

  constructor(
    private readonly store: AuditStore,
    private readonly seal: AuditSeal,
    readonly settings: AuditSettings,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** The attribute names a connection reads email and groups from, for unverified claims. */
    private readonly attributeNames: (connection: string) => { email?: string; groups?: string } = () => ({}),
  ) {}

  /** False when `retention: 0s`: nothing is recorded and listings are empty. */
  get enabled(): boolean {
    return this.settings.retentionMs > 0;
  }

  get storeKind(): 'memory' | 'redis' {
    return this.store.kind;
  }

  /** Records one received message after its verdict. Never throws; returns at once. */
  record(input: AuditRecordInput): void {
    if (!this.enabled) return;
    if (this.inFlight.size >= MAX_IN_FLIGHT) return this.failed(input, 'audit-backlog-full');
    const at = this.clock.now();
    const p = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.write(input, at))
      .catch((err: unknown) => this.failed(input, isGatehouseError(err) ? err.reason : 'audit-write-failed', err))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Resolves when every record started so far is written (or has failed); for tests and shutdown. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Entries matching the query, newest first, opened. Entries no current secret opens are skipped. */
  async list(q: AuditQuery): Promise<AuditListing> {
    if (!this.enabled) return { entries: [], truncated: false };
    // Expired entries are gone from either store by themselves: no cut-off by the retention here.
    const since = q.since ?? 0;
    const keys = q.email === undefined ? [undefined] : this.seal.emailKeys(q.email);
    const found = new Map<string, AuditEntry>();
    let truncated = false;
    for (const key of keys) {
      for (let offset = 0; ; offset += PAGE) {
        if (offset >= MAX_SCANNED) {
          truncated = true;
          break;
        }
        const page = await this.store.recent(key, since, PAGE, offset);
        for (const s of page) {
          const e = this.open(s.id, s.at, s.sealed);
          if (e && matches(e, q)) found.set(e.id, e);
        }
        // One more than asked for is enough to know whether the listing is complete.
        if (page.length < PAGE || found.size > q.limit) break;
      }
    }
    const entries = [...found.values()].sort((a, b) => b.at - a.at);
    return { entries: entries.slice(0, q.limit), truncated: truncated || entries.length > q.limit };
  }

  private async write(input: AuditRecordInput, at: number): Promise<void> {
    const entry = this.build(input, at);
    const { xml, ...rest } = entry;
    const body = JSON.stringify({ ...rest, xml_z: xml ? deflateRawSync(xml, { level: 1 }).toString('base64') : '' });
    const email = entry.claims.email;
    await this.store.add({ id: entry.id, at, sealed: this.seal.seal(entry.id, body) }, email ? [this.seal.emailKey(email)] : [], this.settings.retentionMs, this.settings.maxEntries);
  }

  /** The entry as it will be stored: decoded, cut, claims read (unverified unless given). */
  private build(input: AuditRecordInput, at: number): AuditEntry {
    const { maxXmlBytes, maxParseBytes } = this.settings;
    const decoded = input.encoded
      ? decodeMessage(input.encoded.value, input.encoded.binding, maxParseBytes)
      : { text: input.rawXml ?? '', bytes: input.rawXml === undefined ? (input.unreadBytes ?? 0) : Buffer.byteLength(input.rawXml) };
    let claimsError: string | undefined = 'error' in decoded ? decoded.error : undefined;
    if (input.rawXml === undefined && !input.encoded) claimsError = 'not-read';
    let read: ReturnType<typeof extractClaims> = { claims: {} };
    if (claimsError === undefined && decoded.bytes > maxParseBytes) claimsError = 'too-large';
    if (claimsError === undefined) {
      read = extractClaims(decoded.text, this.attributeNames(input.connection));
      claimsError = read.error;
    }
    const verified = input.verdict === 'accepted' && input.claims !== undefined;
    const claims = capClaims(verified ? { ...read.claims, ...input.claims } : read.claims);
    const kept = cutUtf8(decoded.text, maxXmlBytes);
    return {
      id: newEntryId(at),
      at,
      req_id: input.reqId.slice(0, 64),
      kind: input.kind,
      connection: input.connection.slice(0, 64),
      client_ip: input.clientIp.slice(0, 64),
      verdict: input.verdict,
      ...(input.code ? { code: input.code.slice(0, 64) } : {}),
      reason: input.reason.slice(0, 128),
      claims,
      claims_verified: verified,
      ...(claimsError ? { claims_error: claimsError } : {}),
      xml_bytes: decoded.bytes,
      xml_truncated: kept.cut,
      xml: kept.text,
    };
  }

  private open(id: string, at: number, sealed: string): AuditEntry | undefined {
    const text = this.seal.open(id, sealed);
    if (text === undefined) return undefined;
    try {
      const { xml_z: z, ...rest } = JSON.parse(text) as Omit<AuditEntry, 'xml'> & { xml_z: string };
      return { ...rest, id, at, xml: z ? inflateRawSync(Buffer.from(z, 'base64')).toString('utf8') : '' };
    } catch {
      return undefined;
    }
  }

  /** Messages not recorded since start (store failures, full backlog); for tests and health. */
  get notRecorded(): number {
    return this.failures;
  }

  private failed(input: AuditRecordInput, reason: string, err?: unknown): void {
    this.dropped++;
    this.failures++;
    const now = this.clock.now();
    if (now - this.lastLogged < LOG_EVERY_MS) return;
    this.lastLogged = now;
    this.log.warn(
      { [F.event]: EVENTS.samlAuditFailed, [F.code]: 'SAML_AUDIT_NOT_RECORDED', [F.reason]: reason, [F.requestId]: input.reqId, [F.connection]: input.connection, not_recorded: this.dropped, err: (err as Error | undefined)?.message },
      'SAML message not recorded in the audit trail; the login was not affected',
    );
    this.dropped = 0;
  }
}

/** Time-ordered, unguessable id: 8 hex digits of seconds, then 72 random bits. */
function newEntryId(at: number): string {
  return `${Math.floor(at / 1000).toString(16).padStart(8, '0')}${randomBytes(9).toString('base64url')}`;
}

function matches(e: AuditEntry, q: AuditQuery): boolean {
  if (q.connection !== undefined && e.connection !== q.connection) return false;
  if (q.verdict !== undefined && e.verdict !== q.verdict) return false;
  if (q.kind !== undefined && e.kind !== q.kind) return false;
  if (q.email !== undefined && e.claims.email?.toLowerCase() !== q.email.trim().toLowerCase()) return false;
  return true;
}
