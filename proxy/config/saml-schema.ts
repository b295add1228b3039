import { z } from 'zod';
import { CLASS_URI, COMPARISONS, rankOf } from './authn-classes.js';
import { CLAIM_NAME, duration, durationOrOff, httpUrl, slug } from './fields.js';

/**
 * The `saml:` part of the configuration file: connections (one SP per IdP), Gatehouse's own
 * keys, the audit trail. Strict like the rest of schema.ts: an unknown key is an error.
 */

/**
 * SAML attribute names, per identity field. Each key set here overrides only that field of the
 * connection's `provider` preset (see proxy/saml/provider-presets.ts); keys left out keep the preset.
 */
const attributesSchema = z.strictObject({
  /** Attribute holding the email; the NameID is used when it is an email and this is absent. */
  email: z.string().min(1).optional(),
  /** Attribute holding group names or IDs (multi-valued). */
  groups: z.string().min(1).optional(),
  /** Attribute for the user name; default: the NameID. */
  user: z.string().min(1).optional(),
  /** Attribute for a display name (shown on Gatehouse pages only); default: first and last name. */
  name: z.string().min(1).optional(),
  /** Attribute for the first (given) name. */
  first_name: z.string().min(1).optional(),
  /** Attribute for the last name (surname). */
  last_name: z.string().min(1).optional(),
});

/** IdPs whose documented attribute names Gatehouse knows (proxy/saml/provider-presets.ts). */
export const PROVIDERS = ['generic', 'okta', 'entra', 'google', 'jumpcloud', 'ping', 'adfs', 'keycloak', 'simplesamlphp'] as const;


const demoUserSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9._-]{1,64}$/),
  email: z.email(),
  groups: z.array(z.string().min(1)).optional(),
});

/** A group name as policies write it (policy-schema.ts caps names at 256 characters). */
const policyGroup = z.string().min(1).max(256);

/** A requested authentication context: classes and how the returned one must compare to them. */
const authnContextSchema = z
  .strictObject({
    /** AuthnContextClassRef URIs, e.g. urn:oasis:names:tc:SAML:2.0:ac:classes:X509. */
    classes: z.array(z.string().regex(CLASS_URI, 'a class URI such as urn:oasis:names:tc:SAML:2.0:ac:classes:X509')).min(1),
    /** SAML core 3.3.2.2.1: `exact` (default), `minimum`, `better` or `maximum`. */
    comparison: z.enum(COMPARISONS).default('exact'),
  })
  .superRefine((c, ctx) => {
    if (c.comparison === 'exact') return;
    for (const [i, cls] of c.classes.entries()) {
      if (rankOf(cls) === undefined) ctx.addIssue({ code: 'custom', path: ['classes', i], message: `Gatehouse does not rank "${cls}", so \`${c.comparison}\` cannot compare it (use comparison: exact, see docs/step-up.md)` });
    }
  });
/**
 * What an encrypted assertion may use. AES-GCM content encryption with RSA-OAEP (rsa-oaep-mgf1p)
 * key transport is always accepted; rsa-1_5 never is (Bleichenbacher / Marvin: Node refuses
 * PKCS#1 v1.5 decryption), and neither is triple-DES.
 */
const encryptionSchema = z.strictObject({
  /**
   * Refuse plain (unencrypted) assertions: an attacker on the path must not downgrade to them.
   * Needs `saml.sp_keys`. Default false (assertions may come plain or encrypted).
   */
  require: z.boolean().default(false),
  /**
   * Also accept AES-CBC (aes128-cbc, aes256-cbc) content encryption, which has no integrity of
   * its own (padding-oracle attacks, Jager & Somorovsky 2011). SimpleSAMLphp 1.19 only sends
   * aes128-cbc. Default false.
   */
  allow_cbc: z.boolean().default(false),
});
/** A SHA-256 certificate fingerprint: 32 hex bytes, `AA:BB:..` (colons optional). */
const sha256Fingerprint = z.string().regex(/^(?:[0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, 'a SHA-256 fingerprint: 32 hex bytes as AA:BB:.. (openssl x509 -noout -fingerprint -sha256)');

const connectionSchema = z.strictObject({
  id: slug,
  /** Shown on sign-in pages. */
  display_name: z.string().min(1).optional(),
  idp_metadata_url: httpUrl.optional(),
  idp_metadata_file: z.string().min(1).optional(),
  /**
   * PEM file (one or several certificates, relative to the config file) whose keys must have
   * signed the IdP metadata (URL or file). KeyInfo in the metadata is ignored. Absent: unsigned
   * metadata is accepted (then serve it over https or from a file you control).
   */
  idp_metadata_signing_cert_file: z.string().min(1).optional(),
  /**
   * SHA-256 fingerprint(s) of the certificate that signs the IdP metadata; the certificate is
   * taken from the signature's KeyInfo and accepted only when its fingerprint is listed here.
   */
  idp_metadata_fingerprint: z.union([sha256Fingerprint, z.array(sha256Fingerprint).min(1)]).optional(),
  /** Built-in demo IdP for local trial only; refused unless the file says `demo: true`. */
  demo_idp: z.strictObject({ users: z.array(demoUserSchema).min(1) }).optional(),
  /** SP entity ID; defaults to this connection's metadata URL. Immutable once published. */
  entity_id: z.string().min(1).optional(),
  /**
   * What to do with a response the IdP sends without our request (IdP-initiated; it carries no
   * InResponseTo, so it cannot be bound to the browser that posts it: login CSRF).
   * `refuse` (default): SAML_LOGIN_FAILED. `restart`: verify it, then start a fresh SP-initiated
   * login to this connection instead of signing anyone in (the IdP's tile keeps working and a
   * planted response never makes a session). `accept`: sign the user in (replay-protected by
   * assertion ID); only where the IdP portal must work without a round trip.
   */
  idp_initiated: z.enum(['refuse', 'restart', 'accept']).default('refuse'),
  /**
   * SAML Single Logout (docs/saml-logout.md). Absent: on whenever `saml.sp_keys` is set (logout
   * messages must be signed): the IdP's signed LogoutRequests end this connection's sessions of
   * that user on every instance, and sign-out continues at the IdP when its metadata lists a
   * Redirect SingleLogoutService. `false`: sign-out ends only Gatehouse's session and
   * `/.gatehouse/saml/<id>/slo` refuses everything. `true` requires `saml.sp_keys`.
   */
  single_logout: z.boolean().optional(),
  /**
   * Where the browser lands after a completed SP-initiated Single Logout (a path of ours).
   * Absent: Gatehouse's "signed out" page.
   */
  logout_redirect: z.string().regex(/^\/(?![/\\])/, 'a path starting with one "/"').optional(),
  /** Where IdP-initiated logins land when RelayState names no route of ours. */
  default_redirect: z.string().startsWith('/').default('/'),
  /**
   * Which IdP product this is: sets the attribute names for email, names and groups as that
   * product documents them. `generic` (default): `email` and `groups`.
   */
  provider: z.enum(PROVIDERS).default('generic'),
  /**
   * Email domains this connection's users have (`corp.example`): the sign-in page sends someone
   * who types alice@corp.example here. Lower-cased, IDNs in punycode; one domain, one connection.
   */
  email_domains: z.array(z.string().min(1).max(253)).default([]),
  /**
   * Make this connection the only way in for `email_domains` (and their sub-domains): a login
   * through any other connection whose email or user name is in one of them is refused.
   */
  enforce: z.boolean().default(false),
  /**
   * Extra SAML attributes kept in the session: name -> attribute name, e.g.
   * `department: http://schemas.xmlsoap.org/ws/2005/05/identity/claims/department`.
   * Shown by /.gatehouse/userinfo; sent upstream only by routes that name them in `forward_claims`.
   */
  claims: z.record(z.string().regex(CLAIM_NAME, 'lower-case letters, digits, _ and - (max 64), starting with a letter'), z.string().min(1).max(1024))
    .refine((r) => Object.keys(r).length <= 32, 'at most 32 claims')
    .default({}),
  attributes: attributesSchema.default({}),
  /**
   * IdP group value (name or ID, matched exactly, case-sensitive) -> the policy group name(s) it
   * stands for, e.g. an Entra object ID -> `ml-engineers`. Absent: groups are used as sent.
   */
  group_map: z.record(z.string().min(1).max(1024), z.union([policyGroup, z.array(policyGroup).min(1)])).optional(),
  /**
   * IdP groups `group_map` does not name: `keep` them as sent (default) or `drop` them. With a
   * complete map, `drop` keeps the IdP's other groups out of sessions and X-Forwarded-Groups.
   */
  unmapped_groups: z.enum(['keep', 'drop']).default('keep'),
  /**
   * Send ForceAuthn in every AuthnRequest: the IdP must authenticate the user again rather than
   * answer from its SSO session; an answer whose AuthnInstant predates the login is refused.
   */
  force_authn: z.boolean().default(false),
  /**
   * RequestedAuthnContext sent in every AuthnRequest, and checked against the class the IdP
   * returns (see docs/step-up.md). Absent (default): none requested, any class accepted.
   */
  authn_context: authnContextSchema.optional(),
  /**
   * Sign AuthnRequests (HTTP-Redirect binding, rsa-sha256 over the query, SAML bindings 3.4.4.1)
   * with the first of `saml.sp_keys`. Default: true when sp_keys exist; true without them is an error.
   */
  sign_requests: z.boolean().optional(),
  /** Encrypted assertions from this IdP (decrypted with any of `saml.sp_keys`). */
  encryption: encryptionSchema.default({ require: false, allow_cbc: false }),
});

/**
 * The SAML audit trail (docs/saml-audit.md): every SAML message received, with its verdict, error
 * code, claims and raw XML, sealed in the session store (memory or Redis) for diagnosing
 * failed logins after the fact. Personal data: keep the retention as short as your needs allow.
 */
const samlAuditSchema = z.strictObject({
  /** How long each message is kept; entries expire by themselves. `0s`: nothing is recorded. */
  retention: durationOrOff.default(7 * 86_400_000),
  /**
   * Bytes of each message's decoded XML that are kept (the rest is cut; the full size is
   * recorded). `0`: no XML, only the verdict and claims. Worst-case store size is about
   * max_entries x (1.4 x max_xml_bytes + 10 KiB).
   */
  max_xml_bytes: z.number().int().min(0).max(1_048_576).default(16_384),
  /** Most messages kept (all instances together); past it the oldest go first. */
  max_entries: z.number().int().min(100).max(10_000_000).default(10_000),
});

export const samlSchema = z.strictObject({
  /** Tolerated clock difference with IdPs (SAML core 1.1 leaves it to deployments). */
  clock_skew: duration.default(60_000),
  /** Cap on the SAMLResponse form field (bytes, after base64). */
  max_response_bytes: z.number().int().min(1024).max(2_097_152).default(262_144),
  /** Time a user has to finish a login at the IdP. */
  login_timeout: duration.default(10 * 60_000),
  /**
   * How often IdP metadata (URL or file) is read again; sooner when the metadata's
   * cacheDuration or validUntil asks for it (never more often than once a minute for those).
   */
  metadata_refresh: duration.default(3_600_000),
  /**
   * Where Gatehouse keeps the group names assertions have carried (JSON, relative to the config
   * file), for `gatehouse check` to spot policy group names no IdP sends. Absent: not kept on disk.
   */
  groups_seen_file: z.string().min(1).optional(),
  /**
   * Gatehouse's own SAML keys (RSA, PEM files): the first signs AuthnRequests and logout
   * messages, every one decrypts encrypted assertions, all are published in SP metadata. Two at
   * once for a rollover: add the new key second, move it first once the IdPs have fetched the
   * new metadata, then remove the old one. Absent: requests are unsigned, assertions cannot be
   * encrypted to Gatehouse.
   */
  sp_keys: z
    .array(z.strictObject({ key_file: z.string().min(1), cert_file: z.string().min(1) }))
    .max(2, 'at most two keys at once (the current one and the one rolling in or out)')
    .default([]),
  audit: samlAuditSchema.default({ retention: 7 * 86_400_000, max_xml_bytes: 16_384, max_entries: 10_000 }),
  connections: z.array(connectionSchema).min(1),
});

export type DemoUser = z.output<typeof demoUserSchema>;
