/**
 * IdP metadata in the shapes the supported providers publish (test/fixtures/idp-metadata/, one
 * per `provider:`; see its README): Entra's and AD FS's WS-Federation RoleDescriptors, AD FS's
 * encryption key beside its signing key, Keycloak's EntitiesDescriptor with two signing keys,
 * JumpCloud's KeyDescriptor without `use`, Ping's artifact and SOAP endpoints. Each must parse
 * to the entity ID, SSO endpoints and exactly the signing certificates; an encryption-only key
 * taken as a signing key would let whoever holds it sign assertions.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseIdpMetadata } from '../../proxy/saml/idp-metadata.js';

const DIR = new URL('../fixtures/idp-metadata/', import.meta.url);
const read = (name: string) => readFileSync(new URL(`${name}.xml`, DIR), 'utf8');
/** The CN of each signing certificate found (the fixture certificates are named after their role). */
const signers = (pems: string[]) => pems.map((p) => /CN=([^\n,]+)/.exec(new X509Certificate(p).subject)![1]);

interface Expected {
  entityId: string;
  signers: string[];
  redirect: string;
  post?: string;
  sloRedirect?: string;
}

const EXPECTED: Record<string, Expected> = {
  okta: { entityId: 'http://www.okta.com/exk8ml0gatehouse5d7', signers: ['okta.idp.example'], redirect: 'https://corp.okta.com/app/corp_gatehouse_1/exk8ml0gatehouse5d7/sso/saml', post: 'https://corp.okta.com/app/corp_gatehouse_1/exk8ml0gatehouse5d7/sso/saml' },
  entra: {
    entityId: 'https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/',
    signers: ['entra.idp.example', 'entra2.idp.example'],
    redirect: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2',
    post: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2',
    sloRedirect: 'https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/saml2',
  },
  google: { entityId: 'https://accounts.google.com/o/saml2?idpid=C03gatehs1', signers: ['google.idp.example'], redirect: 'https://accounts.google.com/o/saml2/idp?idpid=C03gatehs1', post: 'https://accounts.google.com/o/saml2/idp?idpid=C03gatehs1' },
  jumpcloud: { entityId: 'JumpCloud', signers: ['jumpcloud.idp.example'], redirect: 'https://sso.jumpcloud.com/saml2/gatehouse', post: 'https://sso.jumpcloud.com/saml2/gatehouse' },
  ping: { entityId: 'https://pingfed.corp.example', signers: ['ping.idp.example'], redirect: 'https://pingfed.corp.example/idp/SSO.saml2', post: 'https://pingfed.corp.example/idp/SSO.saml2', sloRedirect: 'https://pingfed.corp.example/idp/SLO.saml2' },
  adfs: { entityId: 'http://adfs.corp.example/adfs/services/trust', signers: ['adfs-sign.idp.example'], redirect: 'https://adfs.corp.example/adfs/ls/', post: 'https://adfs.corp.example/adfs/ls/', sloRedirect: 'https://adfs.corp.example/adfs/ls/' },
  keycloak: { entityId: 'https://keycloak.corp.example/realms/ml', signers: ['keycloak-a.idp.example', 'keycloak-b.idp.example'], redirect: 'https://keycloak.corp.example/realms/ml/protocol/saml', post: 'https://keycloak.corp.example/realms/ml/protocol/saml', sloRedirect: 'https://keycloak.corp.example/realms/ml/protocol/saml' },
  simplesamlphp: {
    entityId: 'https://idp.corp.example/simplesaml/saml2/idp/metadata.php',
    signers: ['simplesamlphp.idp.example'],
    redirect: 'https://idp.corp.example/simplesaml/saml2/idp/SSOService.php',
    sloRedirect: 'https://idp.corp.example/simplesaml/saml2/idp/SingleLogoutService.php',
  },
};

describe('IdP metadata of each provider shape', () => {
  for (const [provider, want] of Object.entries(EXPECTED)) {
    test(`${provider}: entity ID, SSO endpoints and exactly its signing certificates`, () => {
      const md = parseIdpMetadata(read(provider));
      assert.equal(md.entityId, want.entityId);
      assert.deepEqual(signers(md.signingCerts), want.signers);
      assert.equal(md.sso.redirect, want.redirect);
      assert.equal(md.sso.post, want.post);
      assert.equal(md.slo.redirect, want.sloRedirect);
      assert.equal(md.certsExpireAt.length, want.signers.length);
    });
  }

  test('AD FS: the encryption certificate is in the metadata but never taken as a signing key', () => {
    const xml = read('adfs');
    const all = [...xml.matchAll(/<ds:X509Certificate>([^<]+)</g)].map((m) => new X509Certificate(Buffer.from(m[1]!, 'base64')).subject);
    assert.ok(all.some((s) => s.includes('adfs-enc')), 'the fixture does carry an encryption key');
    assert.ok(!signers(parseIdpMetadata(xml).signingCerts).includes('adfs-enc.idp.example'));
  });

  test('Entra and AD FS: WS-Federation RoleDescriptors are skipped; only the IDPSSODescriptor counts', () => {
    for (const name of ['entra', 'adfs']) {
      const xml = read(name);
      assert.match(xml, /<RoleDescriptor [^>]*xsi:type="fed:SecurityTokenServiceType"/);
      // Without the IDPSSODescriptor, the RoleDescriptors' keys alone do not make an IdP.
      const noIdp = xml.replace(/<IDPSSODescriptor[\s\S]*<\/IDPSSODescriptor>/, '');
      assert.throws(() => parseIdpMetadata(noIdp), /metadata-no-idp-descriptor/);
    }
  });

  test('every fixture names a provider Gatehouse has a preset for', async () => {
    const { PROVIDERS } = await import('../../proxy/config/schema.js');
    for (const name of Object.keys(EXPECTED)) assert.ok((PROVIDERS as readonly string[]).includes(name), name);
  });
});
