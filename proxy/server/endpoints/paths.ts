/**
 * Every path Gatehouse reserves for itself, in one place. Nothing under `/.gatehouse/` is ever
 * forwarded, whatever the routes say.
 */
export const RESERVED_PREFIX = '/.gatehouse/';

export const PATHS = {
  saml: '/.gatehouse/saml/',
  signin: '/.gatehouse/signin',
  logout: '/.gatehouse/logout',
  userinfo: '/.gatehouse/userinfo',
  healthz: '/.gatehouse/healthz',
  readyz: '/.gatehouse/readyz',
  demoIdp: '/.gatehouse/demo-idp/',
  admin: '/.gatehouse/admin/',
  scim: '/.gatehouse/scim/v2/',
} as const;

/** The SAML endpoints of one connection. */
export function samlPaths(connectionId: string) {
  const base = `${PATHS.saml}${connectionId}`;
  return { metadata: `${base}/metadata`, acs: `${base}/acs`, login: `${base}/login`, slo: `${base}/slo` };
}
