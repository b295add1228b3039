import type { PROVIDERS } from '../../proxy/config/schema.js';

/**
 * Each provider's attribute names as its documentation shows them, written out here by hand
 * (not read from proxy/saml/provider-presets.ts) so a wrong preset fails the tests.
 */
export const DOCUMENTED: Record<(typeof PROVIDERS)[number], { email: string; groups: string; first?: string; last?: string; name?: string }> = {
  generic: { email: 'email', groups: 'groups' },
  okta: { email: 'email', groups: 'groups', first: 'firstName', last: 'lastName' },
  entra: {
    email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
    first: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    last: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
    name: 'http://schemas.microsoft.com/identity/claims/displayname',
  },
  google: { email: 'email', groups: 'groups', first: 'firstName', last: 'lastName' },
  jumpcloud: { email: 'email', groups: 'memberOf', first: 'firstname', last: 'lastname' },
  ping: { email: 'mail', groups: 'memberOf', first: 'givenName', last: 'sn', name: 'displayName' },
  adfs: {
    email: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
    groups: 'http://schemas.xmlsoap.org/claims/Group',
    first: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname',
    last: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname',
    name: 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name',
  },
  keycloak: { email: 'urn:oid:1.2.840.113549.1.9.1', groups: 'member', first: 'urn:oid:2.5.4.42', last: 'urn:oid:2.5.4.4' },
  simplesamlphp: { email: 'mail', groups: 'memberOf', first: 'givenName', last: 'sn', name: 'displayName' },
};

