/**
 * Identity mapping with a connection's group_map: IdP group values (Entra object IDs, Okta names)
 * become the names policies use, matched exactly; unmapped groups are kept or dropped; the result
 * is deduplicated and capped at 1000 groups before and after mapping.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Profile } from '@node-saml/node-saml';
import { configSchema, type ConnectionConfig } from '../../proxy/config/schema.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { mapIdentity } from '../../proxy/saml/identity-mapping.js';

const ML_ID = '8d0f4c6e-3b1a-4f7e-9a2d-5c6b7e8f9a01';
const DS_ID = '1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b';

/** A connection as the config loader would produce it (defaults applied by the schema). */
function connection(extra: Record<string, unknown> = {}): ConnectionConfig {
  const config = configSchema.parse({
    server: { public_url: 'http://127.0.0.1:4180' },
    session: {},
    saml: { connections: [{ id: 'entra', idp_metadata_url: 'http://idp.example/md', ...extra }] },
    policies: ['p.yaml'],
  });
  return config.saml.connections[0]!;
}

function profile(groups: unknown): Profile {
  return { issuer: 'https://idp.example', nameID: 'alice@example.com', nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', attributes: { groups } } as Profile;
}

interface Case {
  name: string;
  map?: Record<string, string | string[]>;
  unmapped?: 'keep' | 'drop';
  sent: unknown;
  groups: string[];
}

const CASES: Case[] = [
  { name: 'no map: groups pass as sent, deduplicated', sent: ['ml-engineers', 'ml-engineers', 'x'], groups: ['ml-engineers', 'x'] },
  { name: 'an Entra object ID becomes its policy name', map: { [ML_ID]: 'ml-engineers' }, sent: [ML_ID], groups: ['ml-engineers'] },
  { name: 'one IdP group may stand for several names', map: { [DS_ID]: ['data-scientists', 'ml-engineers'] }, sent: [DS_ID], groups: ['data-scientists', 'ml-engineers'] },
  { name: 'two IdP groups mapping to one name give it once', map: { [ML_ID]: 'ml-engineers', [DS_ID]: ['ml-engineers'] }, sent: [ML_ID, DS_ID], groups: ['ml-engineers'] },
  { name: 'unmapped groups are kept by default', map: { [ML_ID]: 'ml-engineers' }, sent: [ML_ID, 'Everyone'], groups: ['ml-engineers', 'Everyone'] },
  { name: 'unmapped_groups: drop discards them', map: { [ML_ID]: 'ml-engineers' }, unmapped: 'drop', sent: [ML_ID, 'Everyone'], groups: ['ml-engineers'] },
  { name: 'a kept group equal to a mapped name is not doubled', map: { [ML_ID]: 'ml-engineers' }, sent: [ML_ID, 'ml-engineers'], groups: ['ml-engineers'] },
  { name: 'an Okta group name with spaces maps exactly', map: { 'Okta ML Team': 'ml-engineers' }, unmapped: 'drop', sent: ['Okta ML Team'], groups: ['ml-engineers'] },
  { name: 'no groups attribute: no groups, map or not', map: { [ML_ID]: 'ml-engineers' }, sent: undefined, groups: [] },
  { name: 'a single-valued groups attribute is mapped too', map: { [ML_ID]: 'ml-engineers' }, sent: ML_ID, groups: ['ml-engineers'] },
  // Attacks: only the exact value the map names is translated into a policy name.
  { name: 'an IdP group that merely resembles a mapped ID is not mapped', map: { [ML_ID]: 'ml-engineers' }, unmapped: 'drop', sent: [ML_ID.toUpperCase(), ` ${ML_ID}`, `${ML_ID}x`, ML_ID.slice(0, -1)], groups: [] },
  { name: 'an IdP group that resembles a mapped ID is kept as sent, never as the mapped name', map: { [ML_ID]: 'ml-engineers' }, sent: [ML_ID.toUpperCase()], groups: [ML_ID.toUpperCase()] },
  { name: 'a mapped Okta name differing only in case is not mapped', map: { 'Okta ML Team': 'ml-engineers' }, unmapped: 'drop', sent: ['okta ml team', 'Okta ML Team '], groups: [] },
  { name: 'a group named like an Object.prototype key is not found in the map', map: { [ML_ID]: 'ml-engineers' }, unmapped: 'drop', sent: ['constructor', 'toString', '__proto__', 'hasOwnProperty'], groups: [] },
];

describe('group_map in identity mapping', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const conn = connection({ ...(c.map ? { group_map: c.map } : {}), ...(c.unmapped ? { unmapped_groups: c.unmapped } : {}) });
      const identity = mapIdentity(profile(c.sent), conn);
      assert.deepEqual(identity.groups, c.groups);
      assert.equal(identity.connection, 'entra');
    });
  }

  test('unmapped_groups defaults to keep', () => {
    assert.equal(connection().unmapped_groups, 'keep');
  });

  const tooMany = (fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => isGatehouseError(e) && e.code === 'SAML_LOGIN_FAILED' && e.reason === 'too-many-groups');

  test('more than 1000 groups sent is refused before mapping', () => {
    tooMany(() => mapIdentity(profile(Array.from({ length: 1001 }, (_v, i) => `g${i}`)), connection({ group_map: { g0: 'a' }, unmapped_groups: 'drop' })));
  });

  test('a map that expands past 1000 names is refused after mapping', () => {
    const targets = Array.from({ length: 600 }, (_v, i) => `t${i}`);
    const conn = connection({ group_map: { a: targets, b: targets.map((t) => `${t}-b`) } });
    tooMany(() => mapIdentity(profile(['a', 'b']), conn));
    assert.equal(mapIdentity(profile(['a']), conn).groups.length, 600);
  });

  test('the schema refuses empty keys, empty targets and empty lists', () => {
    for (const group_map of [{ '': 'a' }, { x: '' }, { x: [] }, { x: ['a', ''] }]) {
      assert.throws(() => connection({ group_map }), Error, JSON.stringify(group_map));
    }
    assert.throws(() => connection({ unmapped_groups: 'ignore' }));
  });
});
