import { randomBytes } from 'node:crypto';
import { LineageRecords } from '../session/lineage-records.js';
import { AuditSeal } from '../audit/audit-seal.js';
import { SamlAudit } from '../audit/saml-audit.js';
import type { LoadedConfig } from '../config/load.js';
import type { Clock } from '../clock.js';
import { DemoIdp } from '../demo/demo-idp.js';
import type { IdentityJwt } from '../forward/identity-jwt.js';
import { UpstreamPools } from '../forward/upstream-pools.js';
import type { Logger } from '../log.js';
import { RequestLog } from '../request-log.js';
import { IdpSource, originOf, pinOf } from '../saml/idp-source.js';
import { attributeNames } from '../saml/provider-presets.js';
import { DomainDirectory } from '../saml/email-domains.js';
import { LoginTracker } from '../saml/login-tracker.js';
import { LogoutTracker } from '../saml/logout-tracker.js';
import { ReplayCache } from '../saml/replay-cache.js';
import { SingleLogout } from '../saml/single-logout.js';
import { ServiceProvider, type SpUrls } from '../saml/service-provider.js';
import { readSpKeys } from '../config/sp-keys.js';
import { checkPublishedEntityIds } from '../saml/published-entity-ids.js';
import { SessionAdmin } from '../session/session-admin.js';
import { SessionManager } from '../session/session-manager.js';
import { compileRoutes } from '../policy/compile.js';
import { AccessTokens } from '../tokens/access-token.js';
import { openStores } from '../store/open-stores.js';
import { EVENTS, F } from '../log.js';
import type { Stores } from '../store/open-stores.js';
import { ScimDirectory } from '../scim/scim-directory.js';
import type { AppContext } from './context.js';
import { cookiePolicy } from './cookies.js';
import { PATHS, samlPaths } from './endpoints/paths.js';
import { listenForMetadataRefresh } from './metadata-announce.js';
import { buildIdentityJwt, buildPolicyParts, initialPolicyStatus, logEphemeralKey } from './policy-state.js';
import { buildTrustList } from './trusted-proxies.js';

/** Things to close when the context is retired. */
export interface Closers {
  close(): Promise<void>;
}

/**
 * Builds the whole request-time context from a loaded config: stores, sessions, one SP per
 * connection (IdP metadata read now: no IdP, no start), compiled routes, upstream pools.
 * Nothing here is rebuilt per request.
 */
export async function buildContext(loaded: LoadedConfig, log: Logger, clock: Clock): Promise<{ ctx: AppContext; closers: Closers }> {
  const { config } = loaded;
  const publicUrl = new URL(config.server.public_url);
  // Key files and the Redis rule are config problems: reported before any store is opened.
  const identityJwt = buildIdentityJwt(loaded, compileRoutes(loaded.policies), clock);
  const stores = await openStores(config, loaded.dir, log, clock);
  const built = await buildWithStores(loaded, log, clock, publicUrl, stores, identityJwt).catch(async (err: unknown) => {
    await stores.close();
    throw err;
  });
  return built;
}

async function buildWithStores(loaded: LoadedConfig, log: Logger, clock: Clock, publicUrl: URL, stores: Stores, identityJwt: IdentityJwt | undefined): Promise<{ ctx: AppContext; closers: Closers }> {
  const { config } = loaded;
  const tracker = new LoginTracker(stores.logins, config.saml.login_timeout, clock);
  const replay = new ReplayCache(stores.replay, clock);
  const groupsSeen = stores.groupsSeen;
  const spKeys = readSpKeys(config.saml.sp_keys, loaded.dir);
  const domains = new DomainDirectory(config.saml.connections.map((c) => ({ connection: c.id, domains: c.email_domains, enforce: c.enforce })));
  const deps = { tracker, replay, clock, skewMs: config.saml.clock_skew, maxResponseBytes: config.saml.max_response_bytes, loginTimeoutMs: config.saml.login_timeout, groupsSeen, domains, spKeys };
  const connections = new Map<string, ServiceProvider>();
  const singleLogout = new Map<string, SingleLogout>();
  const sloDeps = { tracker: new LogoutTracker(stores.logins, config.saml.login_timeout), replay, clock, skewMs: config.saml.clock_skew, spKey: spKeys?.signing };
  const sources = new Map<string, IdpSource>();
  let demoIdp: DemoIdp | undefined;
  for (const conn of config.saml.connections) {
    const urls = spUrls(publicUrl, conn.id, conn.entity_id);
    let source: IdpSource;
    if (conn.demo_idp) {
      if (!config.demo) throw new Error('demo IdP refused: config does not say `demo: true`');
      demoIdp = await DemoIdp.create({ baseUrl: `${publicUrl.origin}${PATHS.demoIdp}`, sp: urls, users: conn.demo_idp.users, clock });
      source = await IdpSource.open({ fixed: demoIdp.metadata() }, { connection: conn.id, clock, log });
    } else {
      const opts = { connection: conn.id, intervalMs: config.saml.metadata_refresh, pin: pinOf(conn, loaded.dir), clock, log };
      source = await IdpSource.open(originOf(conn, loaded.dir), opts).catch((err: unknown) => {
        for (const s of sources.values()) s.stop();
        throw err;
      });
      source.startRefresh();
    }
    sources.set(conn.id, source);
    connections.set(conn.id, new ServiceProvider(conn, urls, source, deps));
    singleLogout.set(conn.id, new SingleLogout(conn, { entityId: urls.entityId, sloUrl: urls.sloUrl }, source, sloDeps));
  }
  await checkPublishedEntityIds(stores.records, [...connections.values()].map((sp) => ({ connection: sp.conn.id, entityId: sp.urls.entityId })), log);
  const metadataAnnouncer = await listenForMetadataRefresh(stores.announcements, sources, log, clock).catch((err: unknown) => {
    for (const s of sources.values()) s.stop();
    throw err;
  });
  const cookies = cookiePolicy({
    publicUrl: publicUrl.href,
    name: config.session.cookie_name,
    domain: config.session.cookie_domain,
    sessionMaxAgeMs: config.session.max_lifetime,
    loginMaxAgeMs: config.saml.login_timeout,
  });
  const parts = buildPolicyParts(loaded, cookies);
  logEphemeralKey(log, identityJwt);
  // Demo mode makes a random secret per start; sessions and the audit trail share it.
  const secrets = [config.session.secret ?? randomBytes(48).toString('base64'), ...config.session.previous_secrets];
  const sessions = newSessionManager(config, secrets, stores, clock, log);
  const pools = await UpstreamPools.create(parts.routes.routes.map((r) => r.upstreamOrigin), config.server.upstream_client);
  const ctx: AppContext = {
    config,
    publicUrl,
    log,
    requests: new RequestLog(log),
    clock,
    sessions,
    sessionAdmin: new SessionAdmin(stores.sessions, sessions.keys, clock),
    lineages: new LineageRecords(stores.logins, clock),
    stores,
    directory: new ScimDirectory(stores.records, clock),
    samlAudit: newSamlAudit(config, stores, secrets, clock, log),
    cookies,
    connections,
    domains,
    idpMetadata: sources,
    metadataAnnouncer,
    singleLogout,
    ...parts,
    identityJwt,
    policy: initialPolicyStatus(clock.now()),
    pools,
    forwarding: {
      proto: publicUrl.protocol === 'https:' ? 'https' : 'http',
      trustedProxies: buildTrustList(config.server.trusted_proxies).list,
      anyTrustedProxy: config.server.trusted_proxies.length > 0,
    },
    demoIdp,
    accessTokens: new AccessTokens(secrets),
  };
  const closers = {
    async close() {
      for (const s of sources.values()) s.stop();
      await pools.close();
      await ctx.samlAudit.settled();
      await stores.close();
    },
  };
  return { ctx: Object.freeze(ctx), closers };
}

/** Sessions over the configured store; a memory store is this process's own, so its cache never goes stale. */
function newSessionManager(config: LoadedConfig['config'], secrets: string[], stores: Stores, clock: Clock, log: Logger): SessionManager {
  const s = config.session;
  const memory = stores.sessions.kind === 'memory';
  let graceLogged = 0;
  return new SessionManager(
    stores.sessions,
    {
      secrets,
      idleTimeoutMs: s.idle_timeout,
      cliIdleTimeoutMs: config.tokens.cli_idle_timeout,
      maxLifetimeMs: s.max_lifetime,
      cacheTtlMs: memory ? Number.POSITIVE_INFINITY : s.cache.ttl,
      cacheMaxEntries: memory ? 100_000 : s.cache.max_entries,
      outageGraceMs: s.outage_grace,
    },
    clock,
    () => {
      // One line per 10 s at most: an outage must not multiply log volume.
      if (clock.now() - graceLogged < 10_000) return;
      graceLogged = clock.now();
      log.warn({ [F.event]: EVENTS.storeDown, [F.code]: 'SESSION_STORE_UNAVAILABLE', reason: 'served-from-cache-during-outage' }, 'session store unreachable; serving cached sessions (outage_grace)');
    },
  );
}

/** The audit trail over the configured store, sealed under the same secrets as sessions. */
function newSamlAudit(config: LoadedConfig['config'], stores: Stores, secrets: readonly string[], clock: Clock, log: Logger): SamlAudit {
  const a = config.saml.audit;
  // Unverified claims are read with each connection's own attribute names (preset + overrides).
  const names = new Map(
    config.saml.connections.map((c) => {
      const n = attributeNames(c);
      return [c.id, { email: n.email, groups: n.groups }];
    }),
  );
  return new SamlAudit(
    stores.samlAudit,
    new AuditSeal(secrets),
    { retentionMs: a.retention, maxXmlBytes: a.max_xml_bytes, maxEntries: a.max_entries, maxParseBytes: config.saml.max_response_bytes },
    clock,
    log,
    (id) => names.get(id) ?? {},
  );
}

function spUrls(publicUrl: URL, id: string, entityId: string | undefined): SpUrls {
  const p = samlPaths(id);
  const abs = (path: string) => `${publicUrl.origin}${path}`;
  return { entityId: entityId ?? abs(p.metadata), acsUrl: abs(p.acs), loginUrl: abs(p.login), metadataUrl: abs(p.metadata), sloUrl: abs(p.slo) };
}
