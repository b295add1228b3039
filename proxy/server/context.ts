import type { SamlAudit } from '../audit/saml-audit.js';
import type { LineageRecords } from '../session/lineage-records.js';
import type { Clock } from '../clock.js';
import type { GatehouseConfig } from '../config/schema.js';
import type { StripSet } from '../forward/header-hygiene.js';
import type { IdentityJwt } from '../forward/identity-jwt.js';
import type { UpstreamPools } from '../forward/upstream-pools.js';
import type { ClientFacts } from '../forward/upstream-headers.js';
import type { Credentials } from './upstream-credentials.js';
import type { ServiceAccounts } from '../tokens/service-accounts.js';
import type { Logger } from '../log.js';
import type { RequestLog } from '../request-log.js';
import type { RouteTable } from '../policy/route-table.js';
import type { DomainDirectory } from '../saml/email-domains.js';
import type { IdpSource } from '../saml/idp-source.js';
import type { ServiceProvider } from '../saml/service-provider.js';
import type { SingleLogout } from '../saml/single-logout.js';
import type { SessionAdmin } from '../session/session-admin.js';
import type { SessionManager } from '../session/session-manager.js';
import type { Stores } from '../store/open-stores.js';
import type { ScimDirectory } from '../scim/scim-directory.js';
import type { DemoIdp } from '../demo/demo-idp.js';
import type { CookiePolicy } from './cookies.js';
import type { MetadataAnnouncer } from './metadata-announce.js';
import type { PolicyStatus } from './policy-state.js';
import type { AccessTokens } from '../tokens/access-token.js';

/** Everything built at startup that request handling looks things up in. Immutable per state. */
export interface AppContext {
  config: GatehouseConfig;
  publicUrl: URL;
  log: Logger;
  /** The per-request access and decision records. */
  requests: RequestLog;
  clock: Clock;
  sessions: SessionManager;
  /** Listing and revoking sessions (admin API, SCIM, `gatehouse sessions`). */
  sessionAdmin: SessionAdmin;
  /** Which browser sign-in (lineage) a cookie belonged to, also after it idled out. */
  lineages: LineageRecords;
  /** The stores (memory or Redis) behind sessions, logins and records; for readiness. */
  stores: Stores;
  /** The SAML audit trail: every SAML endpoint records each message it received (`record`). */
  samlAudit: SamlAudit;
  /** Users provisioned over SCIM (deactivated ones cannot sign in). */
  directory: ScimDirectory;
  cookies: CookiePolicy;
  connections: ReadonlyMap<string, ServiceProvider>;
  /** Which connection owns which email domain (sign-in page discovery, `enforce`). */
  domains: DomainDirectory;
  /** Each connection's IdP metadata (state, on-demand refresh), by connection id. */
  idpMetadata: ReadonlyMap<string, IdpSource>;
  /** Tells other instances about an on-demand metadata refresh (Redis store only). */
  metadataAnnouncer: MetadataAnnouncer;
  /** Single Logout of each connection, by connection id (docs/saml-logout.md). */
  singleLogout: ReadonlyMap<string, SingleLogout>;
  routes: RouteTable;
  /** Hosts some route names, for checking redirect targets. */
  routeHosts: ReadonlySet<string>;
  pools: UpstreamPools;
  strip: StripSet;
  /** `upstream_auth` credential header per route (policy-state.ts). */
  credentials: Credentials;
  /** Signs the identity JWT and serves the JWKS; rebuilt on reload (policy-state.ts buildIdentityJwt). */
  identityJwt?: IdentityJwt;
  /** `service_accounts:` by name, from the serving config (reloaded with the policies). */
  serviceAccounts: ServiceAccounts;
  /** Generation and health of the serving policy (a failed reload makes it `stale`). */
  policy: PolicyStatus;
  /** The request-independent part of the forwarding headers, derived once from the config. */
  forwarding: Omit<ClientFacts, 'host' | 'requestId'>;
  demoIdp?: DemoIdp;
  /** Seals and opens CLI access tokens (`gta_`), under the session secrets (docs/cli-tokens.md). */
  accessTokens: AccessTokens;
}

/** Per-request facts gathered along the pipeline for the access line. */
export interface RequestScope {
  id: string;
  startNs: bigint;
  route?: string;
  user?: string;
  /** Set on the SAML ACS: any refusal there (405 and 413 included) is a `login-failed` line. */
  acs?: boolean;
  /** Set on a SAML SLO endpoint: any refusal there (404 when off, 405 included) is a `logout-failed` line. */
  slo?: boolean;
  /** Error code when the request failed. */
  code?: string;
  reason?: string;
}
