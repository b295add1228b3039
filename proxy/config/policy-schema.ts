import { z } from 'zod';
import { duration, headerName, httpUrl } from './fields.js';

/** One allow/deny rule: every criterion present must match (AND). */
const ruleSchema = z
  .strictObject({
    /** Any of these groups. */
    groups: z.array(z.string().min(1)).min(1).optional(),
    /** Any of these emails (compared case-insensitively). */
    emails: z.array(z.string().min(3)).min(1).optional(),
    /** Any of these domains (the part after @, case-insensitive). */
    email_domains: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'a domain such as example.com')).min(1).optional(),
    /**
     * Signed in through any of these connections (IdPs). With several connections, name them:
     * otherwise any configured IdP can assert any email or group.
     */
    connections: z.array(z.string().min(1)).min(1).optional(),
    /** Any signed-in user. */
    authenticated: z.literal(true).optional(),
    /** Everyone, signed in or not. Must stand alone and only in allow lists. */
    public: z.literal(true).optional(),
  })
  .superRefine((rule, ctx) => {
    const keys = Object.keys(rule);
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'an empty rule matches nothing; name a criterion' });
    if (rule.public && keys.length > 1) ctx.addIssue({ code: 'custom', message: '`public: true` must stand alone' });
  });

const headersSchema = z.strictObject({
  user: headerName.default('X-Forwarded-User'),
  email: headerName.default('X-Forwarded-Email'),
  groups: headerName.default('X-Forwarded-Groups'),
});

const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, dot, dash, underscore'),
  /** Exact host (`notebooks.example.com` or `127.0.0.1:4180`); absent: any host. */
  host: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/, 'a host name with optional :port')
    .transform((h) => h.toLowerCase())
    .optional(),
  /** Path prefix, matched on whole segments: `/api` covers `/api` and `/api/x`, not `/apix`. */
  path: z
    .string()
    .regex(
      /^\/(?:(?!\.\.?(?:\/|$))[A-Za-z0-9\-._~!$&'()*+,=:@%]+\/?)*$/,
      'a normalized path: starts with /, no empty, `.` or `..` segments, no `;`, `?`, `#` or `\\`',
    )
    .default('/'),
  upstream: httpUrl,
  allow: z.array(ruleSchema).min(1),
  deny: z.array(ruleSchema.refine((r) => !r.public, '`public` has no meaning in deny')).default([]),
  headers: headersSchema.default({ user: 'X-Forwarded-User', email: 'X-Forwarded-Email', groups: 'X-Forwarded-Groups' }),
  /** Upstream response-head timeout. */
  timeout: duration.default(60_000),
  /** Allow websocket upgrades on this route. */
  websockets: z.boolean().default(true),
  /** Send the client's Host to the upstream instead of the upstream's own. */
  preserve_host: z.boolean().default(false),
});

export const policyFileSchema = z.strictObject({ routes: z.array(routeSchema).min(1) });

export type PolicyFile = z.output<typeof policyFileSchema>;
export type RouteConfig = PolicyFile['routes'][number];
export type RuleConfig = RouteConfig['allow'][number];
