/**
 * Every path Gatehouse reserves for itself, in one place. Nothing under `/.gatehouse/` or
 * `/.well-known/gatehouse/` is ever forwarded, whatever the routes say.
 */
export const RESERVED_PREFIX = '/.gatehouse/';

export const PATHS = {
  saml: '/.gatehouse/saml/',
  signin: '/.gatehouse/sign-in',
  /** The sign-in page's earlier address, still answered (bookmarks, links in other tools). */
  signinLegacy: '/.gatehouse/signin',
  logout: '/.gatehouse/logout',
  userinfo: '/.gatehouse/userinfo',
  healthz: '/.gatehouse/healthz',
  readyz: '/.gatehouse/readyz',
  demoIdp: '/.gatehouse/demo-idp/',
  admin: '/.gatehouse/admin/',
  scim: '/.gatehouse/scim/v2/',
  /** The CLI login and token endpoints (`gatehouse login`; docs/cli.md). */
  cli: '/.gatehouse/cli/',
  /** Public discovery documents (JWKS, CLI endpoints), also never forwarded. */
  wellKnown: '/.well-known/gatehouse/',
} as const;

/** The CLI login endpoints (docs/cli-tokens.md). */
export const CLI_PATHS = {
  authorize: `${PATHS.cli}authorize`,
  token: `${PATHS.cli}token`,
  revoke: `${PATHS.cli}revoke`,
} as const;

/** Where upstreams fetch the identity JWT's public keys (docs/identity-jwt.md). */
export const JWKS_PATH = `${PATHS.wellKnown}jwks.json`;

/** The discovery document of the CLI endpoints (docs/cli-tokens.md). */
export const CONFIGURATION_PATH = `${PATHS.wellKnown}configuration`;

/** The SAML endpoints of one connection. */
export function samlPaths(connectionId: string) {
  const base = `${PATHS.saml}${connectionId}`;
  return { metadata: `${base}/metadata`, acs: `${base}/acs`, login: `${base}/login`, slo: `${base}/slo` };
}
