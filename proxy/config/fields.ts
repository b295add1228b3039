import { z } from 'zod';
import { parseDuration } from './duration.js';

// Friendlier messages for the two most common slips: a missing key and a wrong type.
z.config({
  customError: (iss) => {
    if (iss.code !== 'invalid_type') return undefined;
    return iss.input === undefined ? 'required' : `expected ${iss.expected}, got ${Array.isArray(iss.input) ? 'a list' : typeof iss.input}`;
  },
});

/** A duration such as `30m` or `12h`, parsed to milliseconds. */
export const duration = z.string({ error: 'a duration such as 250ms, 90s, 30m, 12h or 7d (with its unit)' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 250ms, 90s, 30m, 12h, 7d)` });
    return z.NEVER;
  }
  return ms;
});

/** A duration that may be `0s` (meaning: off). */
export const durationOrOff = z.string({ error: 'a duration such as 0s, 250ms, 5s or 1m (with its unit)' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 0s, 250ms, 5s, 1m)` });
    return z.NEVER;
  }
  return ms;
});

/** `host:port` of a Redis node or Sentinel; IPv6 hosts in brackets. */
export const hostPort = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'use host:port (e.g. 10.0.0.5:26379)');

/** A `redis://` or `rediss://` URL (credentials allowed only through `${ENV}`; prefer `password`). */
export const redisUrl = z.string().refine((text) => /^rediss?:\/\/[^/?#\s]+(?:\/\d{1,2})?$/.test(text) && URL.canParse(text), {
  message: 'use redis://host:port[/db] or rediss://host:port[/db] (TLS)',
});

/** An absolute http(s) URL, kept as text (normalized by the URL parser). */
export const httpUrl = z.string().transform((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an absolute URL` });
    return z.NEVER;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: `"${text}" must use http or https` });
    return z.NEVER;
  }
  if (url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: 'credentials in URLs are not allowed; use a secret setting' });
    return z.NEVER;
  }
  return url.href;
});

/** `host:port` to listen on; IPv6 hosts in brackets (`[::1]:4180`). */
export const listenAddress = z.string().transform((text, ctx) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not host:port (e.g. 127.0.0.1:4180)` });
    return z.NEVER;
  }
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
});

/** A lowercase identifier used in URLs and names: `lab`, `okta-prod`. */
export const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (max 63)');

/** An HTTP header name (RFC 9110 token). */
/** A name an extra claim is kept under in the session (lower-case, like a header suffix). */
export const CLAIM_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

export const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'use letters, digits and dashes');

/** Forwarding headers Gatehouse sets itself (client copies dropped unless from a trusted proxy). */
export const FORWARDING = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'x-forwarded-uri', 'x-request-id'];
