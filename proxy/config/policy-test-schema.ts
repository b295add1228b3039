import { isIP } from 'node:net';
import { z } from 'zod';
import './fields.js'; // the friendlier zod messages ("required", "expected string, got a list")

/**
 * Schemas of the files the policy tools read: `policy test` files (identities and cases) and
 * the `policy diff` identities file. Strict like every Gatehouse file: unknown keys are errors.
 */

/** What deciding a request can give; the same words `policy explain` prints. */
export const VERDICTS = ['allow', 'deny', 'sign-in', 'no-route', 'bad-path', 'method-not-allowed', 'reserved'] as const;

/** The name a case uses for nobody signed in; no identity may take it. */
export const ANONYMOUS = 'anonymous';

const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** A user as the IdP would describe them, after `group_map`. */
export const identitySchema = z.strictObject({
  /** Default: the email, else the identity's name. */
  user: z.string().min(1).max(256).optional(),
  email: z.string().min(3).max(320).optional(),
  groups: z.array(z.string().min(1).max(256)).default([]),
  /** The connection (IdP) that signed them in; without it, `connections` criteria never hold. */
  connection: z.string().min(1).max(64).optional(),
});
export type IdentitySpec = z.output<typeof identitySchema>;

/** `identities: { dana: { email: ..., groups: [...] } }`. */
export const identitiesSchema = z.record(z.string(), identitySchema).superRefine((ids, ctx) => {
  for (const name of Object.keys(ids)) {
    if (!NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'identity names use letters, digits, dot, dash, underscore (max 64)' });
    if (name === ANONYMOUS) ctx.addIssue({ code: 'custom', path: [name], message: '`anonymous` means nobody signed in; pick another name' });
  }
});

/** `"GET https://host/path?query"`: a method and an absolute http(s) URL. */
export const requestLine = z.string().transform((text, ctx) => {
  const m = /^([A-Z][A-Z-]{0,19}) +(\S+)$/.exec(text.trim());
  const url = m && URL.canParse(m[2]!) ? new URL(m[2]!) : undefined;
  if (!m || !url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.host) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a request: write "METHOD URL", e.g. "GET https://host/path"` });
    return z.NEVER;
  }
  return { method: m[1]!, url: m[2]! };
});
export type RequestLine = z.output<typeof requestLine>;

const ipAddress = z.string().refine((ip) => isIP(ip) !== 0, 'an IP address, e.g. 10.0.0.5 or ::1');

const testCase = z.strictObject({
  name: z.string().min(1).max(200),
  /** A name from `identities`, `anonymous`, or an identity written inline. */
  as: z.union([z.string().min(1), identitySchema], { error: 'a name from identities, `anonymous`, or an identity { email, groups, ... }' }),
  request: requestLine,
  /** Client address for `source_ip` rules (default 127.0.0.1). */
  source_ip: ipAddress.optional(),
  expect: z.enum(VERDICTS, { error: `one of ${VERDICTS.join(', ')}` }),
  /** The route that must decide (by name). */
  route: z.string().min(1).optional(),
  /** The rule that must decide: `allow[1]`, `deny[0]`. */
  rule: z.string().regex(/^(?:allow|deny)\[\d+\]$/, 'a rule label such as allow[0] or deny[1]').optional(),
  /** Reasons that must each be among the decision's reasons. */
  reasons: z.array(z.string().min(1)).min(1).optional(),
});
export type TestCaseSpec = z.output<typeof testCase>;

/**
 * A `policy test` file. The policies come from exactly one of `policies` (globs relative to the
 * test file) or `config` (a Gatehouse config whose `policies` globs are used, and whose
 * connections `connections` criteria are checked against).
 */
export const testFileSchema = z
  .strictObject({
    policies: z.array(z.string().min(1)).min(1).optional(),
    config: z.string().min(1).optional(),
    identities: identitiesSchema.default({}),
    cases: z.array(testCase).min(1),
  })
  .superRefine((f, ctx) => {
    if ((f.policies === undefined) === (f.config === undefined)) {
      ctx.addIssue({ code: 'custom', path: [f.config === undefined ? 'policies' : 'config'], message: 'name the policies under test with exactly one of `policies` (globs) or `config` (a config file)' });
    }
  });
export type TestFile = z.output<typeof testFileSchema>;

/** The `policy diff --identities` file: who to ask about, and extra requests to probe. */
export const identitiesFileSchema = z.strictObject({
  identities: identitiesSchema,
  requests: z.array(requestLine).default([]),
});
export type IdentitiesFile = z.output<typeof identitiesFileSchema>;
