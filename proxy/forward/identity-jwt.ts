import { randomUUID, sign } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { JwtKey, PublicJwk } from '../config/jwt-keys.js';
import type { CompiledRoute, GroupFilter } from '../policy/compile.js';
import type { Identity } from '../policy/types.js';

/** The request header carrying the identity JWT; any client copy is stripped on every route. */
export const JWT_HEADER = 'X-Gatehouse-Jwt-Assertion';

/** The claims of one identity JWT (docs/identity-jwt.md). */
export interface IdentityClaims {
  iss: string;
  /** The route's name: a JWT for one route is refused by an upstream expecting another. */
  aud: string;
  sub: string;
  email?: string;
  /** Minimized as X-Forwarded-Groups is (the route's `forward_groups`); absent with `none`. */
  groups?: string[];
  connection: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
}

export interface IdentityJwtOptions {
  /** Signing key first; every key is published. */
  keys: readonly JwtKey[];
  /** Whole seconds, in ms. */
  ttlMs: number;
  /** `iss`: the public_url origin. */
  issuer: string;
  clock: Clock;
  /** True when the key was made at startup (no `signing_keys`). */
  ephemeral: boolean;
}

/** Tokens kept at most (about 1 KB each): 10 000 active people x routes. */
const MAX_CACHED = 10_000;

interface Cached {
  token: string;
  /** Epoch ms: reused from `issuedAt` until `reuseUntil` (half the lifetime), never to `exp`. */
  issuedAt: number;
  reuseUntil: number;
}

/**
 * Signs identity JWTs (RFC 7519, ES256 per RFC 7518 3.4) for upstreams. A token is reused for
 * the same identity and route during the first half of its lifetime, so upstreams always get
 * one with at least half its lifetime left and Gatehouse signs once per person, route and
 * half-ttl (an ES256 signature costs about as much CPU as the rest of a request: bench/identity-jwt.ts).
 * Built whole with the policies (a reload makes a new signer and an empty cache).
 */
export class IdentityJwt {
  /** The JWKS document (RFC 7517 5): every key's public half. */
  readonly jwks: Readonly<{ keys: readonly PublicJwk[] }>;
  readonly ephemeral: boolean;
  readonly keys: readonly JwtKey[];
  private readonly signing: JwtKey;
  private readonly headerPart: string;
  private readonly ttlSec: number;
  /**
   * By identity content and route: a session read again from Redis (a new object, same person)
   * finds its token. Insertion-ordered and capped: the oldest entry goes first.
   */
  private readonly cache = new Map<string, Cached>();
  /** Each identity object's content key, computed once (weak: goes with the session objects). */
  private readonly contentKeys = new WeakMap<Identity, string>();

  constructor(private readonly opts: IdentityJwtOptions) {
    if (opts.keys.length === 0) throw new Error('identity JWT needs a signing key');
    this.keys = opts.keys;
    this.signing = opts.keys[0]!;
    this.ephemeral = opts.ephemeral;
    this.ttlSec = Math.floor(opts.ttlMs / 1000);
    this.headerPart = b64(JSON.stringify({ alg: 'ES256', kid: this.signing.kid, typ: 'JWT' }));
    this.jwks = Object.freeze({ keys: Object.freeze(opts.keys.map((k) => k.jwk)) });
  }

  /** The JWT for this identity on this route: a cached one with half its lifetime left, or a new one. */
  assertion(identity: Identity, route: Pick<CompiledRoute, 'name' | 'forwardGroups'>): string {
    const now = this.opts.clock.now();
    const key = `${this.contentKey(identity)}\n${route.name}`;
    const hit = this.cache.get(key);
    // A clock stepped back before `iat` would send a token not yet valid (`nbf`): sign again.
    if (hit && now >= hit.issuedAt && now < hit.reuseUntil) return hit.token;
    const iat = Math.floor(now / 1000);
    const token = this.sign(claimsFor(identity, route, this.opts.issuer, iat, this.ttlSec));
    if (hit) this.cache.delete(key);
    else if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { token, issuedAt: iat * 1000, reuseUntil: (iat + this.ttlSec / 2) * 1000 });
    return token;
  }

  /** Everything the claims are made of, unambiguously (JSON): equal keys, equal claims. */
  private contentKey(identity: Identity): string {
    let key = this.contentKeys.get(identity);
    if (key === undefined) {
      key = JSON.stringify([identity.user, identity.email ?? null, identity.connection, identity.groups]);
      this.contentKeys.set(identity, key);
    }
    return key;
  }

  /** Signs claims with the first key: `header.payload.signature`, the signature as R || S (RFC 7518 3.4). */
  private sign(claims: IdentityClaims): string {
    const input = `${this.headerPart}.${b64(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: this.signing.privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  }
}

/** The claims for one identity and route at `iat` (seconds). */
function claimsFor(identity: Identity, route: Pick<CompiledRoute, 'name' | 'forwardGroups'>, issuer: string, iat: number, ttlSec: number): IdentityClaims {
  const groups = groupsClaim(identity.groups, route.forwardGroups);
  return {
    iss: issuer,
    aud: route.name,
    sub: identity.user,
    ...(identity.email ? { email: identity.email } : {}),
    ...(groups ? { groups } : {}),
    connection: identity.connection,
    iat,
    nbf: iat,
    exp: iat + ttlSec,
    jti: randomUUID(),
  };
}

/** The groups X-Forwarded-Groups would carry on the route, as a list (undefined: none sent). */
function groupsClaim(groups: readonly string[], filter: GroupFilter): string[] | undefined {
  if (filter === 'none') return undefined;
  return filter === 'all' ? [...groups] : groups.filter((g) => filter.has(g));
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
