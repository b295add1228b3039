import type { Identity } from '../policy/types.js';

/** Header-safe values for one identity, computed once per identity and reused. */
export interface EncodedIdentity {
  user: string;
  email: string;
  groups: string;
}

const SAFE = /^[\x21-\x24\x26-\x2b\x2d-\x7e]*$/;
const cache = new WeakMap<Identity, EncodedIdentity>();

/**
 * Encodes one value for an identity header: every UTF-8 byte outside visible ASCII (0x21-0x7E),
 * and `%` and `,` themselves, become `%XX`. Plain names stay readable (`ml-engineers`,
 * `alice@example.com`); anything else round-trips exactly with `decodeURIComponent`.
 */
export function encodeHeaderValue(value: string): string {
  if (SAFE.test(value)) return value;
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const plain = byte >= 0x21 && byte <= 0x7e && byte !== 0x25 && byte !== 0x2c;
    out += plain ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * `X-Forwarded-Groups` is the encoded group names joined by `,` with no spaces; since `,` inside
 * a name is encoded, splitting on `,` then decoding each item gives the names back exactly.
 */
export function encodeIdentity(identity: Identity): EncodedIdentity {
  let enc = cache.get(identity);
  if (!enc) {
    enc = {
      user: encodeHeaderValue(identity.user),
      email: identity.email ? encodeHeaderValue(identity.email) : '',
      groups: identity.groups.map(encodeHeaderValue).join(','),
    };
    cache.set(identity, enc);
  }
  return enc;
}

const filtered = new WeakMap<Identity, WeakMap<ReadonlySet<string>, string>>();

/**
 * The X-Forwarded-Groups value for one route: all groups, or only those in the route's set
 * (by default the groups its rules name), so users in hundreds of groups do not send upstreams
 * a header they refuse with 431. Cached per identity and set (weakly: a reload's old sets go).
 * `undefined`: send no header.
 */
export function groupsHeaderFor(identity: Identity, filter: 'all' | 'none' | ReadonlySet<string>): string | undefined {
  if (filter === 'none') return undefined;
  if (filter === 'all') return encodeIdentity(identity).groups;
  let byFilter = filtered.get(identity);
  if (!byFilter) filtered.set(identity, (byFilter = new WeakMap()));
  let value = byFilter.get(filter);
  if (value === undefined) {
    value = identity.groups.filter((g) => filter.has(g)).map(encodeHeaderValue).join(',');
    byFilter.set(filter, value);
  }
  return value;
}

const claimValues = new WeakMap<Identity, Map<string, string>>();

/** An extra claim's values as one header value, encoded and joined like groups; cached per identity. */
export function claimHeaderValue(identity: Identity, claim: string, values: readonly string[]): string {
  let byClaim = claimValues.get(identity);
  if (!byClaim) claimValues.set(identity, (byClaim = new Map()));
  let value = byClaim.get(claim);
  if (value === undefined) {
    value = values.map(encodeHeaderValue).join(',');
    byClaim.set(claim, value);
  }
  return value;
}

/** The inverse, for upstreams and tests: `a,b%2Cc` -> ['a', 'b,c']. */
export function decodeGroupsHeader(value: string): string[] {
  return value === '' ? [] : value.split(',').map((v) => decodeURIComponent(v));
}
