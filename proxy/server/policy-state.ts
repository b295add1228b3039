import type { LoadedConfig } from '../config/load.js';
import type { ConfigProblem } from '../config/problems.js';
import { buildStripSet, type StripSet } from '../forward/header-hygiene.js';
import { compileRoutes } from '../policy/compile.js';
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

/** Identity headers every route strips, whatever its own names. */
const DEFAULT_IDENTITY_HEADERS = ['X-Forwarded-User', 'X-Forwarded-Email', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username'];

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
