/**
 * Provider presets end to end: for each `provider:`, a signed response carrying that provider's
 * attribute names (URIs for Entra and AD FS, OIDs for Keycloak) goes through the real ACS
 * (node-saml reads the attributes) and the session holds the right identity, as
 * /.gatehouse/userinfo shows. Extra `claims:` are kept in the session and shown there; they reach
 * an upstream only on a route that names them in `forward_claims`, and client copies of those
 * headers never do.
 */
import assert from 'node:assert/strict';
import { decodeGroupsHeader } from '../../proxy/forward/identity-headers.js';
import { after, before, describe, test } from 'node:test';
import { PROVIDERS } from '../../proxy/config/schema.js';
import { jarFetch } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { DOCUMENTED } from '../helpers/provider-attributes.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

let gh: RunningGatehouse;
let upstream: TestUpstream;
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
const DEPT = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/department';
const ENTRA_ML = '8d0f4c6e-3b1a-4f7e-9a2d-5c6b7e8f9a01';

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
    connections: [
      ...PROVIDERS.map((provider) => ({ id: `p-${provider}`, idp_metadata_file: 'idp.xml', provider })),
      {
        id: 'entra-custom',
        idp_metadata_file: 'idp.xml',
        provider: 'entra',
        attributes: { groups: 'http://schemas.microsoft.com/ws/2008/06/identity/claims/role' },
        group_map: { [ENTRA_ML]: 'ml-engineers' },
        claims: { department: DEPT, employee_id: 'http://schemas.microsoft.com/identity/claims/employeeid' },
      },
    ],
    routes: [
      { name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] },
      { name: 'hr', path: '/hr', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }], forward_claims: { department: 'X-Forwarded-Department', employee_id: 'X-Employee-Id' } },
      { name: 'open', path: '/open', upstream: upstream.url, allow: [{ public: true }], forward_claims: { department: 'X-Forwarded-Department' } },
    ],
  });
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

interface UserInfo {
  user: string;
  email: string | null;
  groups: string[];
  connection: string;
  name: string | null;
  first_name: string | null;
  last_name: string | null;
  claims: Record<string, string[]>;
}

async function loginWith(connection: string, attributes: Record<string, string[]>) {
  const login = await startSpLogin(gh.url, connection);
  const res = await postResponse(login, genuineResponseXml(login, 'u-7f3a', { attributes, nameIdFormat: UNSPECIFIED }));
  assert.equal(res.status, 303, await res.text());
  const info = (await (await jarFetch(login.jar, `${gh.url}/.gatehouse/userinfo`)).json()) as UserInfo;
  return { jar: login.jar, info };
}

describe('a response with each provider\'s attribute names maps to the right identity', () => {
  for (const provider of PROVIDERS) {
    test(provider, async () => {
      const d = DOCUMENTED[provider];
      const attributes: Record<string, string[]> = { [d.email]: ['Alice@Corp.Example'], [d.groups]: ['ml-engineers', 'Everyone'] };
      if (d.first) attributes[d.first] = ['Alice'];
      if (d.last) attributes[d.last] = ['Liddell'];
      if (d.name) attributes[d.name] = ['Alice (Research)'];
      const { info, jar } = await loginWith(`p-${provider}`, attributes);
      assert.equal(info.user, 'u-7f3a');
      assert.equal(info.email, 'alice@corp.example');
      assert.deepEqual(info.groups, ['ml-engineers', 'Everyone']);
      assert.equal(info.connection, `p-${provider}`);
      assert.equal(info.first_name, d.first ? 'Alice' : null);
      assert.equal(info.last_name, d.last ? 'Liddell' : null);
      assert.equal(info.name, d.name ? 'Alice (Research)' : d.first ? 'Alice Liddell' : null);
      assert.equal((await jarFetch(jar, `${gh.url}/ml/x`)).status, 200, 'the groups reach the policy');
      assert.equal(upstream.seen.at(-1)!.headers['x-forwarded-email'], 'alice@corp.example');
    });
  }
});

describe('overrides and extra claims', () => {
  test('an attributes: key overrides only that field; claims are kept and shown by userinfo', async () => {
    const { info, jar } = await loginWith('entra-custom', {
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress': ['bob@corp.example'],
      'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname': ['Bob'],
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/role': [ENTRA_ML],
      // The preset's groups claim is no longer read once overridden.
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups': ['admins'],
      [DEPT]: ['Research'],
      'http://schemas.microsoft.com/identity/claims/employeeid': ['E-1001'],
    });
    assert.equal(info.email, 'bob@corp.example', 'email still from the Entra preset');
    assert.equal(info.first_name, 'Bob');
    assert.deepEqual(info.groups, ['ml-engineers'], 'groups from the overriding attribute, through group_map');
    assert.deepEqual(info.claims, { department: ['Research'], employee_id: ['E-1001'] });
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`)).status, 200);
    const sent = upstream.seen.at(-1)!.headers;
    assert.ok(!Object.values(sent).some((v) => String(v).includes('Research')), 'claims are not forwarded on a route that does not name them');
  });

  test('forward_claims: the route that names claims sends them, encoded like groups', async () => {
    const { jar } = await loginWith('entra-custom', {
      'http://schemas.microsoft.com/ws/2008/06/identity/claims/role': [ENTRA_ML],
      [DEPT]: ['Research, Zürich', 'ML'],
      'http://schemas.microsoft.com/identity/claims/employeeid': ['E-1001'],
    });
    assert.equal((await jarFetch(jar, `${gh.url}/hr/x`)).status, 200);
    const sent = upstream.seen.at(-1)!.headers;
    assert.equal(sent['x-forwarded-department'], 'Research%2C%20Z%C3%BCrich,ML');
    assert.deepEqual(decodeGroupsHeader(String(sent['x-forwarded-department'])), ['Research, Zürich', 'ML']);
    assert.equal(sent['x-employee-id'], 'E-1001');
  });

  test('spoofed claim header: a client copy of a forward_claims header is stripped on every route, signed in or not', async () => {
    const spoof = { 'X-Forwarded-Department': 'Payroll', 'x_employee_id': 'E-0001' };
    const { jar } = await loginWith('p-generic', { email: ['d@corp.example'], groups: ['ml-engineers'] });
    assert.equal((await jarFetch(jar, `${gh.url}/hr/x`, { headers: spoof })).status, 200);
    let sent = upstream.seen.at(-1)!.headers;
    assert.equal(sent['x-forwarded-department'], undefined, 'the user carries no department claim: no header, not the client\'s');
    assert.equal(sent['x-employee-id'], undefined);
    assert.equal(sent['x_employee_id'], undefined);
    assert.equal((await jarFetch(jar, `${gh.url}/ml/x`, { headers: spoof })).status, 200);
    sent = upstream.seen.at(-1)!.headers;
    assert.equal(sent['x-forwarded-department'], undefined, 'stripped on routes that do not forward it too');
    assert.equal((await fetch(`${gh.url}/open/x`, { headers: spoof })).status, 200);
    sent = upstream.seen.at(-1)!.headers;
    assert.equal(sent['x-forwarded-department'], undefined, 'anonymous requests carry no claim');
  });

  test('no claims configured or carried: userinfo shows an empty object', async () => {
    const { info } = await loginWith('p-generic', { email: ['c@corp.example'] });
    assert.deepEqual(info.claims, {});
    assert.deepEqual(info.groups, []);
  });
});
