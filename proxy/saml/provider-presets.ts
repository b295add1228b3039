import type { ConnectionConfig } from '../config/schema.js';

/** SAML attribute names for each identity field; absent: the field is not read. */
export interface AttributeNames {
  email: string;
  groups: string;
  user?: string;
  name?: string;
  first_name?: string;
  last_name?: string;
}

type Provider = ConnectionConfig['provider'];

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/';

/**
 * The attribute names each IdP product documents (or uses in its own setup guides where the
 * admin picks the names). A connection's `attributes:` block overrides single fields.
 */
export const PROVIDER_PRESETS: Readonly<Record<Provider, Readonly<AttributeNames>>> = {
  // Gatehouse's own defaults before presets existed.
  generic: { email: 'email', groups: 'groups' },
  // Okta lets the admin name attribute statements; its guides and the SAML app wizard use
  // email / firstName / lastName, and a "groups" group attribute statement:
  // https://help.okta.com/en-us/content/topics/apps/define-group-attribute-statements.htm
  // https://help.okta.com/en/prod/Content/Topics/Apps/attribute-statements-saml.htm
  okta: { email: 'email', groups: 'groups', first_name: 'firstName', last_name: 'lastName' },
  // Microsoft Entra ID default claims (claim URIs as attribute names; groups are object IDs):
  // https://learn.microsoft.com/en-us/entra/identity-platform/reference-saml-tokens
  // https://learn.microsoft.com/en-us/entra/identity-platform/saml-claims-customization
  entra: {
    email: `${CLAIMS}emailaddress`,
    groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
    name: 'http://schemas.microsoft.com/identity/claims/displayname',
    first_name: `${CLAIMS}givenname`,
    last_name: `${CLAIMS}surname`,
  },
  // Google Workspace sends the primary email as the NameID (format emailAddress) and only the
  // attributes the admin maps; "Group membership" and first/last name are mapped to app names:
  // https://knowledge.workspace.google.com/admin/apps/about-group-membership-mapping
  // https://support.google.com/a/answer/6087519 (custom SAML app: attribute mapping)
  google: { email: 'email', groups: 'groups', first_name: 'firstName', last_name: 'lastName' },
  // JumpCloud user attribute names (email, firstname, lastname) and its group attribute, which
  // it names memberOf: https://jumpcloud.com/support/saml-attribute-notes
  // https://jumpcloud.com/support/configure-user-attributes-for-saml-connectors
  jumpcloud: { email: 'email', groups: 'memberOf', first_name: 'firstname', last_name: 'lastname' },
  // PingFederate / PingOne send the attribute contract the admin defines; the LDAP names of a
  // PingDirectory / AD data store are what its guides map by default:
  // https://docs.pingidentity.com/pingfederate/latest/administrators_reference_guide/help_assertioncreationtasklet_createattributecontractstate.html
  ping: { email: 'mail', groups: 'memberOf', name: 'displayName', first_name: 'givenName', last_name: 'sn' },
  // AD FS claim descriptions (E-Mail Address, Given Name, Surname, Name, Group = Token-Groups or
  // Is-Member-Of-DL): https://wiki.he-it.eu/books/office-365/page/saml-claims (the AD FS list),
  // https://support.ptc.com/help/identity_and_access_management/en/iam/ADFSAddAttributesMappingToRelyingParty.html
  adfs: {
    email: `${CLAIMS}emailaddress`,
    groups: 'http://schemas.xmlsoap.org/claims/Group',
    name: `${CLAIMS}name`,
    first_name: `${CLAIMS}givenname`,
    last_name: `${CLAIMS}surname`,
  },
  // Keycloak's built-in SAML mappers "X500 email", "X500 givenName", "X500 surname" (OIDs as
  // names, e.g. https://keycloak.discourse.group/t/map-groups-from-saml-idp-into-keycloak/12266)
  // and the "Group list" mapper's attribute name, member (the name Keycloak's own SAML adapter
  // reads groups from besides Role: securing_apps, RoleIdentifiers element;
  // https://www.keycloak.org/docs/latest/server_admin/#_protocol-mappers)
  keycloak: {
    email: 'urn:oid:1.2.840.113549.1.9.1',
    groups: 'member',
    first_name: 'urn:oid:2.5.4.42',
    last_name: 'urn:oid:2.5.4.4',
  },
  // SimpleSAMLphp releases its auth source's attributes as named: with the LDAP and SQL sources
  // these are the eduPerson / inetOrgPerson names (mail, givenName, sn, displayName, memberOf):
  // https://simplesamlphp.org/docs/stable/ldap/ldap.html
  simplesamlphp: { email: 'mail', groups: 'memberOf', name: 'displayName', first_name: 'givenName', last_name: 'sn' },
};

/** The attribute names a connection reads: its provider's preset, then each `attributes:` key it sets. */
export function attributeNames(conn: Pick<ConnectionConfig, 'provider' | 'attributes'>): AttributeNames {
  const out: AttributeNames = { ...PROVIDER_PRESETS[conn.provider] };
  for (const [key, value] of Object.entries(conn.attributes) as [keyof AttributeNames, string | undefined][]) {
    if (value !== undefined) out[key] = value;
  }
  return out;
}
