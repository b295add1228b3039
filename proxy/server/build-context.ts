import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import type { Clock } from '../clock.js';
import { DemoIdp } from '../demo/demo-idp.js';
import { UpstreamPools } from '../forward/upstream-pools.js';
import type { Logger } from '../log.js';
import { RequestLog } from '../request-log.js';
import { IdpSource, originOf } from '../saml/idp-source.js';
import { LoginTracker } from '../saml/login-tracker.js';
import { ReplayCache } from '../saml/replay-cache.js';
import { ServiceProvider, type SpUrls } from '../saml/service-provider.js';
import { MemorySessionStore } from '../session/memory-store.js';
import { SessionManager } from '../session/session-manager.js';
import { openGroupsSeen } from '../store/groups-seen-file.js';
import { MemoryStateStore } from '../store/state-store.js';
import type { AppContext } from './context.js';
import { cookiePolicy } from './cookies.js';
import { PATHS, samlPaths } from './endpoints/paths.js';
import { buildPolicyParts, initialPolicyStatus } from './policy-state.js';
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
  // Two stores: a login flood may push out pending logins (a retry fixes that), but must never
  // push out replay records, so the replay store refuses new entries when full (fail closed).
  const stateStore = new MemoryStateStore(clock, 200_000, 'evict-oldest');
  const replayStore = new MemoryStateStore(clock, 500_000, 'refuse');
  const sessionStore = new MemorySessionStore(clock);
  const tracker = new LoginTracker(stateStore, config.saml.login_timeout, clock);
  const replay = new ReplayCache(replayStore, clock);
  const seenFile = config.saml.groups_seen_file;
  const groupsSeen = await openGroupsSeen(seenFile === undefined ? undefined : resolve(loaded.dir, seenFile), { clock, log });
  const deps = { tracker, replay, clock, skewMs: config.saml.clock_skew, maxResponseBytes: config.saml.max_response_bytes, loginTimeoutMs: config.saml.login_timeout, groupsSeen };
  const connections = new Map<string, ServiceProvider>();
  const sources: IdpSource[] = [];
  let demoIdp: DemoIdp | undefined;
  for (const conn of config.saml.connections) {
    const urls = spUrls(publicUrl, conn.id, conn.entity_id);
    let source: IdpSource;
    if (conn.demo_idp) {
      if (!config.demo) throw new Error('demo IdP refused: config does not say `demo: true`');
      demoIdp = await DemoIdp.create({ baseUrl: `${publicUrl.origin}${PATHS.demoIdp}`, sp: urls, users: conn.demo_idp.users, clock });
      source = await IdpSource.open({ fixed: demoIdp.metadata() });
    } else {
      source = await IdpSource.open(originOf(conn, loaded.dir));
      source.startRefresh(config.saml.metadata_refresh, log);
    }
    sources.push(source);
    connections.set(conn.id, new ServiceProvider(conn, urls, source, deps));
  }
  const cookies = cookiePolicy({
    publicUrl: publicUrl.href,
    name: config.session.cookie_name,
    domain: config.session.cookie_domain,
    sessionMaxAgeMs: config.session.max_lifetime,
    loginMaxAgeMs: config.saml.login_timeout,
  });
  const parts = buildPolicyParts(loaded, cookies);
  const pools = await UpstreamPools.create(parts.routes.routes.map((r) => r.upstreamOrigin), config.server.upstream_client);
  const ctx: AppContext = {
    config,
    publicUrl,
    log,
    requests: new RequestLog(log),
    clock,
    sessions: new SessionManager(sessionStore, { secret: config.session.secret ?? randomBytes(48).toString('base64'), idleTimeoutMs: config.session.idle_timeout, maxLifetimeMs: config.session.max_lifetime }, clock),
    cookies,
    connections,
    ...parts,
    policy: initialPolicyStatus(clock.now()),
    pools,
    forwarding: {
      proto: publicUrl.protocol === 'https:' ? 'https' : 'http',
      trustedProxies: buildTrustList(config.server.trusted_proxies).list,
      anyTrustedProxy: config.server.trusted_proxies.length > 0,
    },
    demoIdp,
  };
  const closers = {
    async close() {
      for (const s of sources) s.stop();
      await pools.close();
      await Promise.all([stateStore.close(), replayStore.close(), sessionStore.close(), groupsSeen.close()]);
    },
  };
  return { ctx: Object.freeze(ctx), closers };
}

function spUrls(publicUrl: URL, id: string, entityId: string | undefined): SpUrls {
  const p = samlPaths(id);
  const abs = (path: string) => `${publicUrl.origin}${path}`;
  return { entityId: entityId ?? abs(p.metadata), acsUrl: abs(p.acs), loginUrl: abs(p.login), metadataUrl: abs(p.metadata) };
}
