/**
 * Provider presets: `provider:` sets the attribute names each IdP documents; `attributes:` keys
 * override only the field they name; `claims:` keeps extra attributes in the identity. A preset
 * that read the wrong name would sign users in without their email or groups (policies would
 * then deny, or, worse, a per-domain rule would see no domain), so each preset is exercised with
 * a profile carrying exactly that provider's names.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Profile } from '@node-saml/node-saml';
import { configSchema, PROVIDERS, type ConnectionConfig } from '../../proxy/config/schema.js';
import { mapIdentity } from '../../proxy/saml/identity-mapping.js';
import { attributeNames, PROVIDER_PRESETS } from '../../proxy/saml/provider-presets.js';
import { DOCUMENTED } from '../helpers/provider-attributes.js';

function connection(extra: Record<string, unknown> = {}): ConnectionConfig {
  return configSchema.parse({
    server: { public_url: 'http://127.0.0.1:4180' },
    session: {},
    saml: { connections: [{ id: 'c', idp_metadata_url: 'http://idp.example/md', ...extra }] },
    policies: ['p.yaml'],
  }).saml.connections[0]!;
}

const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const profile = (attributes: Record<string, unknown>, nameID = 'u-1234'): Profile => ({ issuer: 'https://idp.example', nameID, nameIDFormat: UNSPECIFIED, attributes }) as Profile;

describe('provider presets', () => {
  test('every provider the schema accepts has a preset, and nothing else does', () => {
    assert.deepEqual(Object.keys(PROVIDER_PRESETS).sort(), [...PROVIDERS].sort());
  });

  test('no provider: generic, the names Gatehouse always read (email, groups)', () => {
    assert.deepEqual(attributeNames(connection()), { email: 'email', groups: 'groups' });
  });

  for (const provider of PROVIDERS) {
    test(`${provider}: a profile with ${provider}'s attribute names maps to the right identity`, () => {
      const d = DOCUMENTED[provider];
      const attrs: Record<string, unknown> = { [d.email]: 'Alice@Corp.Example', [d.groups]: ['ml-engineers', 'admins'] };
      if (d.first) attrs[d.first] = 'Alice';
      if (d.last) attrs[d.last] = 'Liddell';
      if (d.name) attrs[d.name] = 'Alice L.';
      const id = mapIdentity(profile(attrs), connection({ provider }));
      assert.equal(id.email, 'alice@corp.example');
      assert.deepEqual(id.groups, ['ml-engineers', 'admins']);
      assert.equal(id.user, 'u-1234', 'the NameID stays the user name');
      assert.equal(id.firstName, d.first ? 'Alice' : undefined);
      assert.equal(id.lastName, d.last ? 'Liddell' : undefined);
      assert.equal(id.name, d.name ? 'Alice L.' : d.first ? 'Alice Liddell' : undefined);
    });
  }

  test('a preset does not read the generic names: an Entra connection ignores an attribute called "email"', () => {
    const id = mapIdentity(profile({ email: 'mallory@evil.example', groups: ['admins'] }), connection({ provider: 'entra' }));
    assert.equal(id.email, undefined);
    assert.deepEqual(id.groups, []);
  });
});

describe('attributes: overrides only what it names', () => {
  test('groups overridden on Entra: email and names still come from the preset', () => {
    const names = attributeNames(connection({ provider: 'entra', attributes: { groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role' } }));
    assert.equal(names.groups, 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role');
    assert.equal(names.email, PROVIDER_PRESETS.entra.email);
    assert.equal(names.first_name, PROVIDER_PRESETS.entra.first_name);
    assert.equal(names.name, PROVIDER_PRESETS.entra.name);
  });

  test('user and name can be added to a preset that has none', () => {
    const names = attributeNames(connection({ provider: 'okta', attributes: { user: 'login', name: 'displayName' } }));
    assert.deepEqual(names, { ...PROVIDER_PRESETS.okta, user: 'login', name: 'displayName' });
  });

  test('the presets themselves are not changed by a connection that overrides them', () => {
    attributeNames(connection({ provider: 'keycloak', attributes: { email: 'email' } }));
    assert.equal(PROVIDER_PRESETS.keycloak.email, 'urn:oid:1.2.840.113549.1.9.1');
  });

  test('an unknown provider or attribute key is a config error, not ignored', () => {
    assert.throws(() => connection({ provider: 'azure' }));
    assert.throws(() => connection({ attributes: { mail: 'mail' } }));
  });
});

describe('claims: extra attributes kept in the identity', () => {
  const DEPT = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/department';

  test('configured claims the response carries are kept under their names, as lists', () => {
    const conn = connection({ provider: 'entra', claims: { department: DEPT, cost_center: 'costCenter' } });
    const id = mapIdentity(profile({ [DEPT]: 'Research', costCenter: ['4711', '4712'], other: 'x' }), conn);
    assert.deepEqual(id.claims, { department: ['Research'], cost_center: ['4711', '4712'] });
  });

  test('claims the response lacks are absent; no claims at all leaves the identity without the field', () => {
    const conn = connection({ claims: { department: DEPT } });
    assert.equal(mapIdentity(profile({ email: 'a@b.example' }), conn).claims, undefined);
  });

  test('values are capped (50 per claim, 1024 characters each; longer ones dropped)', () => {
    const conn = connection({ claims: { tags: 'tags' } });
    const sent = [...Array.from({ length: 60 }, (_v, i) => `t${i}`), 'x'.repeat(2000)];
    assert.equal(mapIdentity(profile({ tags: sent }), conn).claims!.tags!.length, 50);
    assert.equal(mapIdentity(profile({ tags: ['x'.repeat(2000)] }), conn).claims, undefined);
  });

  test('all claims together are capped at 16 KiB: a response cannot bloat every session', () => {
    const conn = connection({ claims: { a: 'a', b: 'b' } });
    const big = Array.from({ length: 20 }, () => 'x'.repeat(1000));
    const claims = mapIdentity(profile({ a: big, b: big }), conn).claims!;
    const total = Object.values(claims).flat().reduce((n, v) => n + v.length, 0);
    assert.ok(total <= 16_384, String(total));
    assert.equal(claims.a!.length, 16);
    assert.equal(claims.b, undefined, 'the budget was spent on the first claim');
  });

  test('an attribute named like an Object.prototype key is not read from the prototype', () => {
    const conn = connection({ claims: { weird: 'constructor' } });
    assert.equal(mapIdentity(profile({}), conn).claims, undefined);
  });

  test('claim names are lower-case identifiers; more than 32 claims is a config error', () => {
    assert.throws(() => connection({ claims: { Department: DEPT } }));
    assert.throws(() => connection({ claims: { 'x y': DEPT } }));
    assert.throws(() => connection({ claims: Object.fromEntries(Array.from({ length: 33 }, (_v, i) => [`c${i}`, `a${i}`])) }));
  });
});
