import { systemClock, type Clock } from '../clock.js';
import { fail, isGatehouseError } from '../errors.js';
import { createLogger, EVENTS, F, type Logger } from '../log.js';
import { expiringCerts } from './cert-expiry.js';
import type { IdpMetadata } from './idp-metadata.js';
import { read, type MetadataOrigin } from './metadata-origin.js';
import { nextRefreshDelay } from './metadata-schedule.js';
import type { MetadataSignaturePin } from './metadata-signature.js';

export { originOf, pinOf, type MetadataOrigin } from './metadata-origin.js';

/** How a source reads, checks and refreshes its metadata. */
export interface SourceOptions {
  /** The connection id, for logs and state. */
  connection: string;
  /** `saml.metadata_refresh`. */
  intervalMs: number;
  /** When set, only metadata with a valid signature from these keys is accepted. */
  pin?: MetadataSignaturePin;
  clock: Clock;
  log: Logger;
  /** Jitter source; default Math.random. */
  random?: () => number;
}

/** What the admin API and readyz show about one connection's metadata. */
export interface MetadataState {
  /** `ok`; `stale`: the last refresh failed, the last good copy serves; `expired`: its validUntil passed, logins refused. */
  status: 'ok' | 'stale' | 'expired';
  entityId: string;
  certs: { fingerprint: string; notAfter: string }[];
  validUntil: string | null;
  cacheDurationMs: number | null;
  signature: 'verified' | 'not-required';
  fetchedAt: string;
  nextRefreshAt: string | null;
  failures: number;
  lastError: { at: string; reason: string } | null;
}

/**
 * Holds an IdP's current metadata. URL and file sources are read at startup (failing startup
 * when unreadable, unsigned while a signature is pinned, or past validUntil: no IdP, no logins)
 * and re-read on a schedule (metadata-schedule.ts) and on demand. A failed refresh keeps the
 * last good copy and is logged with IDP_METADATA_REFRESH_FAILED; once that copy's validUntil
 * passes, `expired()` is true and logins through the connection fail closed. A refresh naming
 * another entity ID is refused (restart to change IdPs).
 */
export class IdpSource {
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<MetadataState> | undefined;
  private fetchedAt: number;
  private nextAt: number | undefined;
  private failures = 0;
  private lastError: { at: number; reason: string } | undefined;
  private expiryLogged = false;
  private stopped = false;

  private constructor(
    private readonly origin: MetadataOrigin,
    private readonly opts: SourceOptions,
    private md: IdpMetadata,
  ) {
    this.fetchedAt = opts.clock.now();
  }

  /** Loads the metadata once. @throws GatehouseError BAD_REQUEST when unreadable, unsigned (pinned), expired or invalid */
  static async open(origin: MetadataOrigin, opts: Partial<SourceOptions> = {}): Promise<IdpSource> {
    const full: SourceOptions = { ...opts, connection: opts.connection ?? '-', intervalMs: opts.intervalMs ?? 3_600_000, clock: opts.clock ?? systemClock, log: opts.log ?? createLogger('silent') };
    const source = new IdpSource(origin, full, await read(origin, full));
    // The demo IdP's fixed metadata carries a short-lived key made at each start: nothing to warn about.
    if (!('fixed' in origin)) source.warnExpiringCerts();
    return source;
  }

  /** The metadata in use (the last good copy). */
  get current(): IdpMetadata {
    return this.md;
  }

  /** True once the current copy's validUntil has passed: logins must fail closed. Logged once. */
  expired(): boolean {
    const until = this.md.validUntil;
    if (until === undefined || this.opts.clock.now() < until) return false;
    if (!this.expiryLogged) {
      this.expiryLogged = true;
      this.opts.log.error({ [F.code]: 'IDP_METADATA_EXPIRED', [F.connection]: this.opts.connection, valid_until: new Date(until).toISOString() }, 'IdP metadata validUntil passed without a fresh copy; logins through this connection are refused');
    }
    return true;
  }

  /** Starts the refresh schedule (URL and file origins; a fixed one never changes). */
  startRefresh(): void {
    if ('fixed' in this.origin || this.stopped) return;
    this.schedule();
  }

  /**
   * Fetches the metadata now (concurrent calls share one fetch) and reschedules the next one.
   * @returns the state after the attempt; `lastError` says whether it failed
   */
  refresh(): Promise<MetadataState> {
    if ('fixed' in this.origin) return Promise.resolve(this.state());
    this.inflight ??= this.attempt().finally(() => {
      this.inflight = undefined;
      if (this.timer !== undefined || this.nextAt !== undefined) this.schedule();
    });
    return this.inflight;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = undefined;
  }

  /** The state shown by the admin API and readyz. */
  state(): MetadataState {
    const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
    const status = this.expired() ? 'expired' : this.failures > 0 ? 'stale' : 'ok';
    return {
      status,
      entityId: this.md.entityId,
      certs: this.md.certFingerprints.map((fingerprint, i) => ({ fingerprint, notAfter: iso(this.md.certsExpireAt[i])! })),
      validUntil: iso(this.md.validUntil),
      cacheDurationMs: this.md.cacheDurationMs ?? null,
      signature: this.opts.pin ? 'verified' : 'not-required',
      fetchedAt: iso(this.fetchedAt)!,
      nextRefreshAt: iso(this.nextAt),
      failures: this.failures,
      lastError: this.lastError ? { at: iso(this.lastError.at)!, reason: this.lastError.reason } : null,
    };
  }

  private async attempt(): Promise<MetadataState> {
    const { log, clock, connection } = this.opts;
    try {
      const md = await read(this.origin, this.opts);
      // The connection trusts one IdP: metadata at the same place naming another entity is a
      // misconfiguration or a takeover, never a refresh (the replay cache is keyed on the entity).
      if (md.entityId !== this.md.entityId) throw fail('BAD_REQUEST', 'metadata-entity-id-changed');
      // A pinned signature proves who published a copy, not when: a replayed older copy (a
      // retired signing certificate, a moved SSO URL) verifies too. Its validUntil is the only
      // date the signature covers, so a copy must not end before the one in use (rollback).
      if (this.opts.pin && olderThan(md, this.md)) throw fail('BAD_REQUEST', 'metadata-older-than-current');
      this.md = md;
      this.fetchedAt = clock.now();
      this.failures = 0;
      this.lastError = undefined;
      this.expiryLogged = false;
      log.info({ [F.event]: EVENTS.metadataRefreshed, [F.connection]: connection, entity_id: this.md.entityId, certs: this.md.certFingerprints }, 'IdP metadata refreshed');
      this.warnExpiringCerts();
    } catch (err) {
      this.failures++;
      const reason = isGatehouseError(err) ? err.reason : 'metadata-unreadable';
      this.lastError = { at: clock.now(), reason };
      log.warn({ [F.code]: 'IDP_METADATA_REFRESH_FAILED', [F.connection]: connection, [F.reason]: reason, failures: this.failures, err }, 'IdP metadata refresh failed; keeping last good copy');
    }
    return this.state();
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    const { clock, intervalMs } = this.opts;
    const delay = nextRefreshDelay({
      intervalMs,
      cacheDurationMs: this.md.cacheDurationMs,
      validUntil: this.md.validUntil,
      failures: this.failures,
      nowMs: clock.now(),
      random: (this.opts.random ?? Math.random)(),
    });
    this.nextAt = clock.now() + delay;
    this.timer = setTimeout(() => void this.refresh(), delay);
    this.timer.unref();
  }

  private warnExpiringCerts(): void {
    for (const c of expiringCerts(this.md, this.opts.clock.now())) {
      this.opts.log.warn({ [F.code]: 'IDP_CERT_EXPIRING', [F.connection]: this.opts.connection, fingerprint: c.fingerprint, not_after: c.notAfter, days_left: c.daysLeft }, c.daysLeft < 0 ? 'IdP signing certificate has expired' : 'IdP signing certificate expires soon');
    }
  }
}

/**
 * Whether `fresh` is older than `current` as far as signed metadata can say: its validUntil is
 * earlier, or absent while the current copy has one. Equal validUntil (the same copy read again)
 * is not older. Without validUntil in the current copy nothing can be compared.
 */
function olderThan(fresh: Pick<IdpMetadata, 'validUntil'>, current: Pick<IdpMetadata, 'validUntil'>): boolean {
  if (current.validUntil === undefined) return false;
  return fresh.validUntil === undefined || fresh.validUntil < current.validUntil;
}
