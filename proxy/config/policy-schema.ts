import { z } from 'zod';
import { CLAIM_NAME, duration, FORWARDING, headerName, httpUrl } from './fields.js';
import { buildTrustList } from '../server/trusted-proxies.js';
import { CLASS_URI } from './authn-classes.js';

// Each repetition starts with its own `/`, so a refused character costs linear time (the form
// `(?:seg\/?)*` backtracks exponentially on a long segment followed by a bad character).
const SEGMENTS = /^(?=\/)(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@%]+)*\/?$/;
const pathText = (what: string) =>
  z
    .string()
    .max(256)
    .regex(SEGMENTS, `${what}: a normalized path: starts with /, no empty, \`.\` or \`..\` segments, no \`;\`, \`?\`, \`#\` or \`\\\\\``)
    .refine((p) => !/%(?![0-9A-F]{2})/.test(p), 'percent-encodings must be %XX with upper-case hex, as requests are normalized');

/** A path pattern: a prefix on whole segments, or a glob when it contains `*` (see path-pattern.ts). */
export const pathPattern = pathText('a path prefix or glob');
const exactPath = pathText('an exact path').refine((p) => !p.includes('*'), '`*` is not allowed in an exact path');

const METHOD = /^[A-Z][A-Z-]{0,19}$/;
const methods = z.array(z.string().regex(METHOD, 'an HTTP method in upper case, e.g. GET')).min(1);
const names = z.array(z.string().min(1).max(256)).min(1);

const cidrs = z.array(z.string()).min(1).superRefine((list, ctx) => {
  for (const bad of buildTrustList(list).invalid) ctx.addIssue({ code: 'custom', message: `"${bad}" is not an IP address or CIDR` });
});

/** `groups: [a, b]` (any of), `{ any: [...] }` or `{ all: [...] }`. */
const groupsCriterion = z.union([names, z.strictObject({ any: names }), z.strictObject({ all: names })], {
  error: 'a list of group names (any of), or { any: [...] } or { all: [...] }',
});

/** Keys that need nobody signed in; `public` may combine only with these. */
export const REQUEST_CRITERIA = ['methods', 'paths', 'source_ip'] as const;
export const IDENTITY_CRITERIA = ['groups', 'emails', 'email_domains', 'connections', 'authenticated'] as const;

export interface RuleConfig {
  groups?: string[] | { any: string[] } | { all: string[] };
  emails?: string[];
  email_domains?: string[];
  connections?: string[];
  authenticated?: true;
  public?: true;
  methods?: string[];
  paths?: string[];
  source_ip?: string[];
  and?: RuleConfig[];
  or?: RuleConfig[];
  not?: RuleConfig;
}

/**
 * One rule: every criterion present must hold (AND). `and`/`or`/`not` nest rules. Identity
 * criteria are unknown when nobody is signed in (see evaluate.ts).
 */
const ruleSchema: z.ZodType<RuleConfig> = z.lazy(() =>
  z
    .strictObject({
      groups: groupsCriterion.optional(),
      /** Any of these emails (compared case-insensitively). */
      emails: z.array(z.string().min(3).max(320)).min(1).optional(),
      /** Any of these domains (the part after @, case-insensitive). */
      email_domains: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'a domain such as example.com')).min(1).optional(),
      /** Signed in through any of these connections (IdPs). */
      connections: names.optional(),
      /** Any signed-in user. */
      authenticated: z.literal(true).optional(),
      /** Everyone, signed in or not. Allow lists only; combines only with methods, paths, source_ip. */
      public: z.literal(true).optional(),
      /** Any of these methods (GET implies HEAD). */
      methods: methods.optional(),
      /** Any of these path patterns, matched against the whole normalized request path. */
      paths: z.array(pathPattern).min(1).optional(),
      /** The client address is in one of these IPs or CIDRs. */
      source_ip: cidrs.optional(),
      and: z.array(ruleSchema).min(1).optional(),
      or: z.array(ruleSchema).min(1).optional(),
      not: ruleSchema.optional(),
    })
    .superRefine((rule, ctx) => {
      const keys = Object.keys(rule);
      if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'an empty rule matches nothing; name a criterion' });
      if (rule.public && keys.some((k) => k !== 'public' && !(REQUEST_CRITERIA as readonly string[]).includes(k))) {
        ctx.addIssue({ code: 'custom', message: '`public: true` combines only with methods, paths and source_ip' });
      }
    }),
);

/** Where `public` may not appear: deny lists and under `not` (a negated "everyone" is nobody). */
function hasPublic(rule: RuleConfig): boolean {
  return rule.public === true || [...(rule.and ?? []), ...(rule.or ?? []), ...(rule.not ? [rule.not] : [])].some(hasPublic);
}
function publicUnderNot(rule: RuleConfig): boolean {
  return (rule.not !== undefined && hasPublic(rule.not)) || [...(rule.and ?? []), ...(rule.or ?? [])].some(publicUnderNot);
}

/**
 * Headers clients send for their own purposes: as an identity header name, every client copy
 * would be stripped on every route (the strip set is shared), breaking the requests of all.
 */
const CLIENT_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection', 'upgrade', 'te', 'trailer', 'keep-alive', 'accept', 'accept-encoding', 'accept-language', 'user-agent', 'origin', 'referer', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'cache-control', 'expect']);
/** Headers Gatehouse sets itself: an identity or claim value under one of these names would pose as Gatehouse's own. */
const OWN_HEADERS = new Set([...FORWARDING, 'x-gatehouse-jwt-assertion']);
const identityHeader = (fallback: string) =>
  headerName
    .refine((h) => !CLIENT_HEADERS.has(h.toLowerCase()), 'a header clients send themselves cannot carry identity (it would be stripped from every request)')
    .refine((h) => !OWN_HEADERS.has(h.toLowerCase().replaceAll('_', '-')), 'a forwarding header Gatehouse sets itself (X-Forwarded-For, X-Request-Id, X-Gatehouse-Jwt-Assertion, ...) cannot carry identity')
    .default(fallback);

/**
 * Extra claims (a connection's `claims:`) sent upstream: claim name -> header name. Values are
 * encoded like groups and joined with `,`; client copies of these headers are always stripped.
 */
const forwardClaimsSchema = z
  .record(z.string().regex(CLAIM_NAME, 'a claim name from a connection\'s claims: (lower-case letters, digits, _ and -)'), identityHeader('X-Forwarded-Claim'))
  .refine((r) => Object.keys(r).length <= 16, 'at most 16 claims per route')
  .refine((r) => new Set(Object.values(r).map((h) => h.toLowerCase())).size === Object.keys(r).length, 'each claim needs its own header');

const headersSchema = z.strictObject({
  user: identityHeader('X-Forwarded-User'),
  email: identityHeader('X-Forwarded-Email'),
  groups: identityHeader('X-Forwarded-Groups'),
});

/**
 * Where an upstream secret comes from: an environment variable or a file (relative to the policy
 * file; trailing newline dropped). Never inline: policy files are reviewed and committed.
 */
const secretRef = z
  .strictObject({
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name').optional(),
    file: z.string().min(1).optional(),
  })
  .refine((s) => (s.env === undefined) !== (s.file === undefined), 'set exactly one of env, file');

/**
 * Credentials Gatehouse adds for the upstream once a request is authorized; the client's copy of
 * that header is removed first. Exactly one kind.
 */
const upstreamAuthSchema = z
  .strictObject({
    /** `Authorization: Bearer <secret>`. */
    bearer: secretRef.optional(),
    /** `Authorization: Basic base64(username:password)`. */
    basic: z.strictObject({ username: z.string().min(1).max(256).regex(/^[^:\r\n]+$/, 'no colon or line break'), password: secretRef }).optional(),
    /** A named header, e.g. `X-Api-Key`. */
    header: z.strictObject({ name: headerName, value: secretRef }).optional(),
  })
  .refine((a) => [a.bearer, a.basic, a.header].filter((x) => x !== undefined).length === 1, 'set exactly one of bearer, basic, header');

export type UpstreamAuthConfig = z.output<typeof upstreamAuthSchema>;

const HOST = /^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

const routeSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash, underscore'),
    /** Exact host (`a.example.com`, `127.0.0.1:4180`) or `*.example.com` (one label); absent: any host. */
    host: z
      .string()
      .regex(HOST, 'a host name with optional :port, or *.domain for one label of that domain')
      .transform((h) => h.toLowerCase())
      .optional(),
    /** Path prefix on whole segments, or a glob when it contains `*`. */
    path: pathPattern.optional(),
    /** Exact path, instead of `path`. */
    path_exact: exactPath.optional(),
    /** Methods this route serves (GET implies HEAD); absent: all. */
    methods: methods.optional(),
    upstream: httpUrl,
    allow: z.array(ruleSchema.refine((r) => !publicUnderNot(r), '`public` has no meaning under `not`')).min(1),
    deny: z.array(ruleSchema.refine((r) => !hasPublic(r), '`public` has no meaning in deny')).default([]),
    headers: headersSchema.default({ user: 'X-Forwarded-User', email: 'X-Forwarded-Email', groups: 'X-Forwarded-Groups' }),
    /** Which groups X-Forwarded-Groups carries: those this route's rules name (default), all, none or a list. */
    forward_groups: z.union([z.enum(['mentioned', 'all', 'none']), names], { error: 'mentioned, all, none or a list of group names' }).default('mentioned'),
    /**
     * Extra claims of the session sent to the upstream as headers, e.g.
     * `{ department: X-Forwarded-Department }` (see docs/identity-headers.md). Default: none.
     */
    forward_claims: forwardClaimsSchema.default({}),
    /** A signed-in user who is refused sees which groups would grant access. */
    explain_denial: z.boolean().default(true),
    /** Upstream response-head timeout. */
    timeout: duration.default(60_000),
    /** Allow websocket upgrades on this route. */
    websockets: z.boolean().default(true),
    /** Send the client's Host to the upstream instead of the upstream's own. */
    preserve_host: z.boolean().default(false),
    /**
     * Step-up: the session's AuthnContextClassRef must be one of these (exact match), else the
     * user signs in again asking the IdP for them (see docs/step-up.md). Absent: any class.
     */
    require_authn_context: z.array(z.string().regex(CLASS_URI, 'a class URI such as urn:oasis:names:tc:SAML:2.0:ac:classes:X509')).min(1).optional(),
    /** Step-up: the session's AuthnInstant may be at most this old, else the user signs in again with ForceAuthn. */
    max_authn_age: duration.optional(),
    /**
     * Credentials for the upstream (Databricks-style token, Prefect API key...), added only
     * after authorization; users never see them. From an environment variable or a file.
     */
    upstream_auth: upstreamAuthSchema.optional(),
    /**
     * Send the upstream a signed JWT of the identity (`X-Gatehouse-Jwt-Assertion`, ES256,
     * `aud` = this route's name) it can verify against the JWKS (docs/identity-jwt.md).
     */
    identity_jwt: z.boolean().default(false),
  })
  .refine((r) => r.path === undefined || r.path_exact === undefined, { message: 'set `path` or `path_exact`, not both', path: ['path_exact'] })
  .refine((r) => r.upstream_auth === undefined || !r.allow.some(hasPublic), {
    message: 'a route with upstream_auth needs a signed-in user: `public` would hand its credentials to anyone',
    path: ['upstream_auth'],
  })
  .refine((r) => (r.require_authn_context === undefined && r.max_authn_age === undefined) || !r.allow.some(hasPublic), {
    message: 'a route with require_authn_context or max_authn_age needs a signed-in user: `public` would let anyone in without it',
    path: ['allow'],
  });

export const policyFileSchema = z.strictObject({ routes: z.array(routeSchema).min(1) });

export type PolicyFile = z.output<typeof policyFileSchema>;
export type RouteConfig = PolicyFile['routes'][number];
