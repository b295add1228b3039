/**
 * When to fetch an IdP's metadata next. SAML metadata 2.0 section 2.3.1: a copy should not be
 * cached longer than its `cacheDuration`, and is unusable after its `validUntil`.
 */

/** No cacheDuration or validUntil brings a refresh closer than this: a tiny value cannot hammer the IdP. */
export const MIN_REFRESH_MS = 60_000;
/** First retry after a failed refresh; doubled per further failure, never past the normal delay. */
export const RETRY_BASE_MS = 30_000;
/** Up to this fraction is taken off each delay at random, so many instances do not fetch in step. */
export const JITTER = 0.1;

export interface ScheduleInput {
  /** `saml.metadata_refresh`. */
  intervalMs: number;
  /** The current copy's cacheDuration and validUntil, when it has them. */
  cacheDurationMs?: number;
  validUntil?: number;
  /** Failed refreshes since the last good one. */
  failures: number;
  nowMs: number;
  /** A number in [0, 1). */
  random: number;
}

/**
 * The delay before the next refresh: the earliest of the configured interval, the cacheDuration
 * and half the time left before validUntil (those two floored at MIN_REFRESH_MS); after failures
 * a retry backing off from RETRY_BASE_MS, capped by that delay; minus up to 10 % jitter.
 */
export function nextRefreshDelay(s: ScheduleInput): number {
  let delay = s.intervalMs;
  if (s.cacheDurationMs !== undefined) delay = Math.min(delay, Math.max(MIN_REFRESH_MS, s.cacheDurationMs));
  if (s.validUntil !== undefined) delay = Math.min(delay, Math.max(MIN_REFRESH_MS, (s.validUntil - s.nowMs) / 2));
  if (s.failures > 0) delay = Math.min(delay, RETRY_BASE_MS * 2 ** Math.min(s.failures - 1, 20));
  return Math.max(1, Math.round(delay * (1 - JITTER * s.random)));
}
