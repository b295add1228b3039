import { fail } from '../errors.js';

/** How long a metadata copy may be used and cached (SAML metadata 2.0, section 2.3.1). */
export interface MetadataValidity {
  /** Earliest `validUntil` on the IdP's descriptor or any element above it (epoch ms). */
  validUntil?: number;
  /** Smallest `cacheDuration` on the same elements (ms). */
  cacheDurationMs?: number;
}

const XS_DURATION = /^(-)?P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const XS_DATETIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

/**
 * Reads `validUntil` and `cacheDuration` from `elements` (the role descriptor, its
 * EntityDescriptor and every EntitiesDescriptor above it). Metadata 2.0 sections 2.2.1 and
 * 2.3.1: the effective limits are the strictest found on the path to the root.
 * @throws GatehouseError BAD_REQUEST `metadata-bad-valid-until` / `metadata-bad-cache-duration`
 */
export function readValidity(elements: readonly Element[]): MetadataValidity {
  const out: MetadataValidity = {};
  for (const el of elements) {
    const until = el.getAttribute('validUntil');
    if (until) {
      const ms = parseXsDateTime(until);
      out.validUntil = Math.min(out.validUntil ?? ms, ms);
    }
    const cache = el.getAttribute('cacheDuration');
    if (cache) {
      const ms = parseXsDuration(cache);
      out.cacheDurationMs = Math.min(out.cacheDurationMs ?? ms, ms);
    }
  }
  return out;
}

/**
 * An xs:dateTime with a time zone, as epoch ms. One without a zone is refused: its instant
 * would depend on our local zone, and a validity limit must not.
 */
export function parseXsDateTime(text: string): number {
  const ms = XS_DATETIME.test(text.trim()) ? Date.parse(text.trim()) : Number.NaN;
  if (!Number.isFinite(ms)) throw fail('BAD_REQUEST', 'metadata-bad-valid-until');
  return ms;
}

/**
 * An xs:duration (`PT6H`, `P1DT12H`, `P1M`) as ms. Years count 365 days and months 30 (the
 * value only schedules refreshes); a negative duration counts as zero (refresh as soon as allowed).
 */
export function parseXsDuration(text: string): number {
  const m = XS_DURATION.exec(text.trim());
  if (!m) throw fail('BAD_REQUEST', 'metadata-bad-cache-duration');
  const n = (i: number) => Number(m[i] ?? 0);
  const ms = (n(2) * 365 + n(3) * 30 + n(4)) * DAY_MS + n(5) * 3_600_000 + n(6) * 60_000 + n(7) * 1000;
  return m[1] ? 0 : Math.round(ms);
}
