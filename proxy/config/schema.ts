import { z } from 'zod';
import { duration, durationOrOff, hostPort, httpUrl, listenAddress, redisUrl, slug } from './fields.js';
import { LOG_LEVELS } from '../log.js';
import { samlSchema } from './saml-schema.js';

/**
 * The Gatehouse configuration file: the one source of its types, defaults and docs (the `saml:`
 * part is in saml-schema.ts).
 * Every object is strict: an unknown key is an error, since a typo in a security setting
 * must never be silently ignored.
 */

const serverSchema = z.strictObject({
  /** Address to listen on. Default loopback: exposing Gatehouse is a deliberate act. */
  listen: listenAddress.default({ host: '127.0.0.1', port: 4180 }),
  /** The URL users reach Gatehouse at; SAML endpoints and cookies derive from it. */
  public_url: httpUrl,
  /** Cap on request headers (bytes), enforced by Node's parser; over it clients get 431. */
  max_header_bytes: z.number().int().min(4096).max(1_048_576).default(32_768),
  /** Time allowed to receive a complete request head (slowloris guard). */
  headers_timeout: duration.default(20_000),
  /**
   * Peers (IPs or CIDRs) whose X-Forwarded-For is kept and appended to, e.g. your load balancer.
   * Empty by default: client-sent forwarding headers are dropped, since anyone can send them.
   */
  trusted_proxies: z.array(z.string().min(1)).default([]),
  /**
   * Longest time to receive a whole request (head and body); longer uploads are cut with 408.
   * Large enough for model uploads; `0s` is refused: some limit must exist.
   */
  request_timeout: duration.default(300_000),
  /**
   * Upstream HTTP client. `auto`: Gatehouse's native engine (Node's own HTTP parser, about a third
   * less CPU per request) for http upstreams when its startup self-test passes, else undici;
   * https upstreams always use undici. `native` refuses to start without it; `undici` never uses it.
   */
  upstream_client: z.enum(['auto', 'native', 'undici']).default('auto'),
  /** Idle keep-alive time for client connections. */
  keep_alive_timeout: duration.default(65_000),
  /**
   * Reload the route policies when the config or a policy file changes (SIGHUP always does).
   * A reload with any problem keeps the old policy serving. Only `policies`, `identity_jwt` and `service_accounts` reload
   * (server/policy-diff.ts RELOADED_KEYS); other keys need a restart.
   */
  watch_policies: z.boolean().default(true),
});

/**
 * Where a Redis session store is: exactly one of `url` (one server), `sentinels` with
 * `master_name` (Redis Sentinel) or `nodes` (Redis Cluster).
 */
const redisSchema = z.strictObject({
  url: redisUrl.optional(),
  sentinels: z.array(hostPort).min(1).optional(),
  master_name: z.string().min(1).optional(),
  nodes: z.array(hostPort).min(1).optional(),
  username: z.string().min(1).optional(),
  /** From ${ENV} or password_file; also used for the Sentinels when they ask for one. */
  password: z.string().min(1).optional(),
  /** TLS to the servers (implied by a `rediss://` url); the system CAs unless `tls_ca_file`. */
  tls: z.boolean().default(false),
  tls_ca_file: z.string().min(1).optional(),
  /** Prefix of every key and channel, so deployments can share one Redis. */
  key_prefix: z.string().regex(/^[A-Za-z0-9:_.{}-]{1,64}$/, 'letters, digits and : _ . - { } (max 64)').default('gatehouse:'),
  /** Giving up on connecting at startup, and on one connection attempt later. */
  connect_timeout: duration.default(5_000),
  /** A command that gets no answer in this time fails (503): a hung Redis never hangs requests. */
  command_timeout: duration.default(2_000),
  /** While reconnecting, a command waits this long for Redis before failing with 503 (`0s`: fail at once). */
  offline_wait: durationOrOff.default(1_000),
  /** At most this many commands wait for a reconnect; more fail at once (no unbounded queue). */
  offline_queue: z.number().int().min(0).max(100_000).default(1_000),
});

const sessionSchema = z.strictObject({
  /**
   * `memory` (one instance, the embedded default), a `redis://` / `rediss://` URL, or `redis`
   * with the details under `redis:` (Sentinel, Cluster, TLS, password).
   */
  store: z.union([z.literal('memory'), z.literal('redis'), redisUrl]).default('memory'),
  redis: redisSchema.optional(),
  /**
   * Keys session seals, CSRF tokens and the session index. At least 32 characters; from ${ENV}
   * or secret_file. Required, except in demo mode, where a random one is made at each start.
   */
  secret: z.string().min(32, 'must be at least 32 characters (generate with: openssl rand -base64 48)').optional(),
  /** Secrets being rotated out: sessions and forms made under them still open. Newest first. */
  previous_secrets: z.array(z.string().min(32, 'must be at least 32 characters')).max(4).default([]),
  idle_timeout: duration.default(30 * 60_000),
  max_lifetime: duration.default(12 * 3_600_000),
  /**
   * In-process cache of open sessions in front of a Redis store; revocations reach every
   * instance through Redis pub/sub (and the cache is bypassed while that link is down).
   */
  cache: z
    .strictObject({
      /** How long a session read from Redis is reused without asking Redis again (`0s`: no cache). */
      ttl: durationOrOff.default(5_000),
      max_entries: z.number().int().min(1).max(1_000_000).default(10_000),
    })
    .default({ ttl: 5_000, max_entries: 10_000 }),
  /**
   * While Redis is unreachable, sessions this instance has in its cache keep working for at most
   * this long after the outage began (`0s`, the default: fail closed with 503 at once).
   */
  outage_grace: durationOrOff.default(0),
  /** Cookie name; `__Host-` is prefixed automatically when public_url is https. */
  cookie_name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('gatehouse_session'),
  /**
   * Share the session across sub-domains (`.ml.example.com`). Off by default: a host-only cookie
   * cannot be read or overwritten by sibling hosts. With it, https cookies use `__Secure-`.
   */
  cookie_domain: z.string().regex(/^\.?[a-z0-9.-]+$/).optional(),
});

/** Session administration (admin API, `gatehouse sessions`) and SCIM deprovisioning. Off unless set. */
const adminSchema = z.strictObject({
  /** Bearer token for the admin API and the `gatehouse sessions` command (from ${ENV} or token_file). */
  token: z.string().min(32, 'must be at least 32 characters (openssl rand -base64 48)').optional(),
  /** Signed-in members of any of these groups may use the admin API from their browser session. */
  groups: z.array(z.string().min(1)).default([]),
  /**
   * Only sessions from these connections count for `groups` (with several IdPs, one IdP must not
   * be able to make its users admins by asserting the group name). Default: every connection.
   */
  connections: z.array(slug).optional(),
  /** Bearer token your IdP's SCIM client sends to /.gatehouse/scim/v2 (from ${ENV} or scim_token_file). */
  scim_token: z.string().min(32, 'must be at least 32 characters (openssl rand -base64 48)').optional(),
});

/** CLI tokens (`gatehouse login`; docs/cli-tokens.md). */
const tokensSchema = z.strictObject({
  /**
   * Lifetime of a CLI access token (`gta_`), never past its CLI session's end. Short, since a
   * copy of one works until it expires or its session ends; the CLI refreshes it. At most 1h.
   */
  access_ttl: duration.refine((ms) => ms >= 60_000 && ms <= 3_600_000, 'must be between 1m and 1h').default(15 * 60_000),
  /**
   * A CLI session (`gatehouse login`) unused this long ends, like a browser's after
   * `session.idle_timeout`; longer by default, since a terminal goes quiet over lunch and
   * meetings. Any access-token request or refresh counts as use. It still ends at
   * `session.max_lifetime`.
   */
  cli_idle_timeout: duration.refine((ms) => ms >= 60_000 && ms <= 30 * 86_400_000, 'must be between 1m and 30d').default(8 * 3_600_000),
});

const logSchema = z.strictObject({
  level: z.enum(LOG_LEVELS).default('info'),
  /** One JSON access line per request. */
  access: z.boolean().default(true),
  /** Decision records: one per allow and deny (`all`), only refusals (`deny`), or `none`. */
  decisions: z.enum(['all', 'deny', 'none']).default('all'),
});

/**
 * The identity JWT sent to routes with `identity_jwt: true` (docs/identity-jwt.md). Absent or
 * without `signing_keys`: with the memory store one key is made at each start (upstreams fetch
 * the JWKS again after a restart); with a Redis store that is an error (instances would sign
 * with different keys). Reloaded with the policies (SIGHUP): that is how keys rotate.
 */
const identityJwtSchema = z.strictObject({
  /**
   * EC P-256 private keys (PEM files, relative to the config file). The first signs; every one
   * is published in the JWKS. Rotate: add the new key second, move it first, then drop the old.
   */
  signing_keys: z.array(z.string().min(1)).max(3, 'at most three keys (the signing one, the next, and the last one rolling out)').default([]),
  /** Lifetime of each JWT: short, since upstreams cannot revoke it (whole seconds, 10s to 10m). */
  ttl: duration
    .refine((ms) => ms % 1000 === 0 && ms >= 10_000 && ms <= 600_000, 'whole seconds from 10s to 10m')
    .default(60_000),
});

/** A service account's name: what policies and identity headers see as its user (docs/service-accounts.md). */
const SERVICE_ACCOUNT_NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** Bounds of a service account's `max_ttl`: long enough to be useful, short enough to expire. */
const SERVICE_TOKEN_TTL = { minMs: 60_000, maxMs: 366 * 86_400_000 } as const;

/** A non-human caller (CI job, pipeline) whose tokens `gatehouse tokens create` mints. */
const serviceAccountSchema = z.strictObject({
  /** The groups policies see; read from the config at each request (a reload applies at once). */
  groups: z.array(z.string().min(1).max(256)).default([]),
  description: z.string().max(200).optional(),
  /** Longest lifetime a token of this account may be minted with (default 30d, at most 366d). */
  max_ttl: duration
    .refine((ms) => ms >= SERVICE_TOKEN_TTL.minMs && ms <= SERVICE_TOKEN_TTL.maxMs, 'must be between 1m and 366d')
    .default(30 * 86_400_000),
});

export { CLAIM_NAME } from './fields.js';
export { PROVIDERS, type DemoUser } from './saml-schema.js';

export const configSchema = z.strictObject({
  /** Must be true for the built-in demo IdP and demo upstream to run. Never in production. */
  demo: z.boolean().default(false),
  server: serverSchema,
  log: logSchema.default({ level: 'info', access: true, decisions: 'all' }),
  session: sessionSchema,
  admin: adminSchema.default({ groups: [] }),
  tokens: tokensSchema.default({ access_ttl: 15 * 60_000, cli_idle_timeout: 8 * 3_600_000 }),
  saml: samlSchema,
  /** Signed identity for upstreams: keys and lifetime (routes opt in with `identity_jwt: true`). */
  identity_jwt: identityJwtSchema.optional(),
  /** Policy file globs, relative to the config file. */
  policies: z.array(z.string().min(1)).min(1),
  /** Service accounts by name (`^[a-z][a-z0-9-]{0,62}$`); reloaded with the policies. */
  service_accounts: z
    .record(z.string(), serviceAccountSchema)
    .superRefine((accounts, ctx) => {
      for (const name of Object.keys(accounts)) {
        if (!SERVICE_ACCOUNT_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: `"${name}" is not a service account name: lowercase letters, digits and dashes, starting with a letter (max 63)` });
      }
    })
    .default({}),
  /** Demo echo upstream, started in-process when `demo: true`. */
  demo_upstream: z.strictObject({ listen: listenAddress }).optional(),
});

/** The validated configuration, with defaults applied. */
export type GatehouseConfig = z.output<typeof configSchema>;
export type ConnectionConfig = GatehouseConfig['saml']['connections'][number];
/** Config paths whose value may come from a file: `secret_file: /run/secrets/x`. */
export const SECRET_PATHS = [
  ['session', 'secret'],
  ['session', 'redis', 'password'],
  ['admin', 'token'],
  ['admin', 'scim_token'],
] as const;
export type SessionConfig = GatehouseConfig['session'];
export type RedisConfig = NonNullable<SessionConfig['redis']>;
