/**
 * The cost of the identity JWT (docs/identity-jwt.md), in one process and one run:
 *
 * - `sign (cache miss)`: a new ES256 JWT per request (another person each time, so the cache
 *   never hits): what the first request of a person on a route pays, once per half-ttl;
 * - `cached`: the same session and route again (what every other request pays);
 * - `identity headers`: the plain X-Forwarded-* values for the same identity (the baseline);
 * - `jose verify`: what an upstream pays to verify one (jose jwtVerify with an imported key).
 *
 * Interleaved rounds, medians of ops/s and µs/op. No network; nothing to stop.
 *
 *   node --import tsx bench/identity-jwt.ts [--rounds 5] [--ms 1000]
 */
import { parseArgs } from 'node:util';
import { importJWK, jwtVerify } from 'jose';
import { systemClock } from '../proxy/clock.js';
import { generateJwtKey } from '../proxy/config/jwt-keys.js';
import { encodeIdentity, groupsHeaderFor } from '../proxy/forward/identity-headers.js';
import { IdentityJwt } from '../proxy/forward/identity-jwt.js';
import type { Identity } from '../proxy/policy/types.js';

const { values } = parseArgs({ options: { rounds: { type: 'string' }, ms: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 5);
const MS = Number(values.ms ?? 1000);

const key = generateJwtKey();
const jwt = new IdentityJwt({ keys: [key], ttlMs: 60_000, issuer: 'https://gatehouse.example.com', clock: systemClock, ephemeral: false });
const route = { name: 'models', forwardGroups: new Set(['ml-engineers', 'admins']) as ReadonlySet<string> };
const base: Identity = { user: 'alice@example.com', email: 'alice@example.com', groups: ['ml-engineers', 'staff', 'data-platform'], connection: 'lab' };
const publicKey = await importJWK(key.jwk, 'ES256');
const token = jwt.assertion(base, route);

let n = 0;
type Case = { name: string; run: () => unknown | Promise<unknown>; async?: boolean };
const cases: Case[] = [
  { name: 'identity headers, uncached (baseline)', run: () => groupsHeaderFor({ ...base }, route.forwardGroups) + encodeIdentity(base).user },
  { name: 'identity JWT, cached', run: () => jwt.assertion(base, route) },
  { name: 'identity JWT, sign (cache miss)', run: () => jwt.assertion({ ...base, user: `u${n++}` }, route) },
  { name: 'jose jwtVerify (upstream side)', run: () => jwtVerify(token, publicKey, { issuer: 'https://gatehouse.example.com', audience: 'models' }), async: true },
];

async function measure(c: Case): Promise<number> {
  let done = 0;
  const end = performance.now() + MS;
  const start = performance.now();
  while (performance.now() < end) {
    for (let i = 0; i < 50; i++) (c.async ? await c.run() : c.run());
    done += 50;
  }
  return done / ((performance.now() - start) / 1000);
}

const results = new Map<string, number[]>(cases.map((c) => [c.name, []]));
for (const c of cases) await measure({ ...c }); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 ? [...cases].reverse() : cases;
  for (const c of order) results.get(c.name)!.push(await measure(c));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`| case | ops/s (median of ${ROUNDS}) | µs/op |\n|---|---:|---:|`);
for (const [name, xs] of results) {
  const ops = median(xs);
  console.log(`| ${name} | ${Math.round(ops).toLocaleString('en')} | ${(1e6 / ops).toFixed(2)} |`);
}
