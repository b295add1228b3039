import type { Clock } from '../clock.js';
import { generateJwtKey, readJwtKey, type JwtKey } from '../config/jwt-keys.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError, type ConfigProblem } from '../config/problems.js';
import { locate } from '../config/yaml-source.js';
import { buildStripSet, type StripSet } from '../forward/header-hygiene.js';
import { IdentityJwt, JWT_HEADER } from '../forward/identity-jwt.js';
import { F, type Logger } from '../log.js';
import { compileRoutes, type CompiledRoute } from '../policy/compile.js';
import { RouteTable } from '../policy/route-table.js';
import type { CookiePolicy } from './cookies.js';
import { resolveCredentials, type Credentials } from './upstream-credentials.js';
import { buildServiceAccounts, type ServiceAccounts } from '../tokens/service-accounts.js';

/** The part of the context derived from the policy files: rebuilt whole on every reload. */
export interface PolicyParts {
  routes: RouteTable;
  /** Hosts some route names, for checking redirect targets. */
  routeHosts: ReadonlySet<string>;
  /** Identity headers of every route and our cookies, stripped from client requests. */
  strip: StripSet;
  /** Each `upstream_auth` route's credential header, read at build time (upstream-credentials.ts). */
  credentials: Credentials;
  /** `service_accounts:` of the config, reloaded with the policies (tokens/service-tokens.ts). */
  serviceAccounts: ServiceAccounts;
}

/** Which policy serves, for readiness: a failed reload leaves the last good one `stale`. */
export interface PolicyStatus {
  /** 1 at start, +1 on each successful reload. */
  generation: number;
  /** When the serving policy was loaded (epoch ms). */
  loadedAt: number;
  status: 'current' | 'stale';
  /** Why the newest files are not serving; only while `stale`. */
  lastError?: { at: number; problems: readonly ConfigProblem[] };
}

/**
 * Identity headers every route strips, whatever its own names. The JWT header too: a forged
 * one must never reach an upstream, on routes with `identity_jwt` or without.
 */
const DEFAULT_IDENTITY_HEADERS = ['X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', JWT_HEADER];

/**
 * Compiles the routes of a loaded config into the route table, the redirect hosts and the
 * strip set (the cookie names come from the session config, which a reload does not change).
 */
export function buildPolicyParts(loaded: LoadedConfig, cookies: Pick<CookiePolicy, 'session' | 'login'>): PolicyParts {
  const routes = new RouteTable(compileRoutes(loaded.policies));
  const headerNames = routes.routes.flatMap((r) => [r.headers.user, r.headers.email, r.headers.groups, ...r.forwardClaims.map(([, header]) => header)]);
  return {
    routes,
    routeHosts: new Set(routes.routes.flatMap((r) => (r.host ? [r.host] : []))),
    strip: buildStripSet([...DEFAULT_IDENTITY_HEADERS, ...headerNames], [cookies.session, cookies.login]),
    credentials: resolveCredentials(routes.routes),
    serviceAccounts: buildServiceAccounts(loaded.config),
  };
}

/** The status of the policy loaded at start. */
export function initialPolicyStatus(now: number): PolicyStatus {
  return Object.freeze({ generation: 1, loadedAt: now, status: 'current' });
}

/** Log event when the identity JWT signs with a key made at startup. */
export const JWT_EPHEMERAL_EVENT = 'identity-jwt-ephemeral-key';

/**
 * The identity JWT signer of a loaded config (start and every reload), or undefined when neither
 * `identity_jwt:` nor any route asks for one. Key files are read and checked now: a problem stops
 * startup, or keeps the old policy and keys on reload. Without `signing_keys`, the memory store
 * signs with a key made at start (kept across reloads: `previous`); a Redis store refuses, since
 * each instance would publish its own key and refuse the others' tokens.
 * @throws ConfigError
 */
export function buildIdentityJwt(loaded: LoadedConfig, routes: readonly CompiledRoute[], clock: Clock, previous?: IdentityJwt): IdentityJwt | undefined {
  const section = loaded.config.identity_jwt;
  const users = routes.filter((r) => r.identityJwt);
  if (!section && users.length === 0) return undefined;
  const files = section?.signing_keys ?? [];
  const problems: ConfigProblem[] = [];
  const at = (path: PropertyKey[], key: string, message: string) => problems.push({ file: loaded.source?.file ?? loaded.file, line: loaded.source ? locate(loaded.source, path) : 0, key, message });
  const keys: JwtKey[] = [];
  files.forEach((file, i) => {
    const key = readJwtKey(file, loaded.dir);
    if (typeof key === 'string') return at(['identity_jwt', 'signing_keys', i], `identity_jwt.signing_keys[${i}]`, key);
    if (keys.some((k) => k.kid === key.kid)) return at(['identity_jwt', 'signing_keys', i], `identity_jwt.signing_keys[${i}]`, 'the same key is listed twice');
    keys.push(key);
  });
  if (files.length === 0 && loaded.config.session.store !== 'memory') {
    const why = 'a Redis session store means several instances: each would sign with its own ephemeral key and publish only that one; set identity_jwt.signing_keys';
    if (section) at(['identity_jwt'], 'identity_jwt.signing_keys', why);
    for (const r of users) {
      const i = r.source.lastIndexOf(':');
      problems.push({ file: r.source.slice(0, i), line: Number(r.source.slice(i + 1)) || 0, key: `route ${r.name}.identity_jwt`, message: why });
    }
  }
  if (problems.length) throw new ConfigError(problems);
  const ephemeral = keys.length === 0;
  if (ephemeral) keys.push(previous?.ephemeral ? previous.keys[0]! : generateJwtKey());
  return new IdentityJwt({ keys, ttlMs: section?.ttl ?? 60_000, issuer: new URL(loaded.config.server.public_url).origin, clock, ephemeral });
}

/** Says so when a signer uses a key made at startup that was not in use before. */
export function logEphemeralKey(log: Logger, jwt: IdentityJwt | undefined, previous?: IdentityJwt): void {
  if (!jwt?.ephemeral || previous?.keys[0] === jwt.keys[0]) return;
  log.warn({ [F.event]: JWT_EPHEMERAL_EVENT, kid: jwt.keys[0]!.kid }, 'identity_jwt has no signing_keys: signing with a key made at startup (upstreams fetch the JWKS again after each restart)');
}
