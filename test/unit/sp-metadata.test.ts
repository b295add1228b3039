/**
 * Our SP metadata, read back with the same strict parser and DOM helpers as IdP metadata: every SP
 * key is published for signing and for encryption, the encryption algorithms listed are exactly
 * the ones accepted, and the SLO endpoint is only offered with keys.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XENC_ALGORITHMS } from '../../proxy/saml/encrypted-assertion.js';
import { buildSpMetadata, type SpMetadataInput } from '../../proxy/saml/sp-metadata.js';
import { children, NS, parseStrictXml } from '../../proxy/saml/xml.js';
import { spKeyOf } from '../helpers/sp-key.js';
import { makeTestKeyPair, SP_KEYS } from '../helpers/test-keys.js';

const NEXT = makeTestKeyPair({ commonName: 'sp-next.gatehouse.test' });

const spKey = spKeyOf;

const base: SpMetadataInput = {
  entityId: 'https://gh.example.com/.gatehouse/saml/lab/metadata?a=1&b=2',
  acsUrl: 'https://gh.example.com/.gatehouse/saml/lab/acs',
  sloUrl: 'https://gh.example.com/.gatehouse/saml/lab/slo',
  singleLogout: true,
  keys: [spKey(SP_KEYS), spKey(NEXT)],
  signRequests: true,
  encryption: { require: true, allow_cbc: false },
};

/** What an IdP reads from SP metadata (SAML metadata 2.4.4). */
function readSpMetadata(xml: string) {
  const entity = parseStrictXml(xml, 'BAD_REQUEST').documentElement;
  assert.equal(entity.localName, 'EntityDescriptor');
  assert.equal(entity.namespaceURI, NS.metadata);
  const [sp, ...more] = children(entity, NS.metadata, 'SPSSODescriptor');
  assert.ok(sp && more.length === 0, 'one SPSSODescriptor');
  const keys = children(sp, NS.metadata, 'KeyDescriptor').map((kd) => ({
    use: kd.getAttribute('use'),
    cert: kd.getElementsByTagNameNS(NS.dsig, 'X509Certificate')[0]?.textContent ?? '',
    methods: children(kd, NS.metadata, 'EncryptionMethod').map((m) => m.getAttribute('Algorithm')),
  }));
  const endpoints = (name: string) => children(sp, NS.metadata, name).map((e) => [e.getAttribute('Binding')!.split(':').at(-1), e.getAttribute('Location')]);
  const order = Array.from({ length: sp.childNodes.length }, (_, i) => sp.childNodes.item(i) as Element).filter((n) => n.nodeType === 1).map((n) => n.localName);
  return {
    entityId: entity.getAttribute('entityID'),
    authnRequestsSigned: sp.getAttribute('AuthnRequestsSigned'),
    wantAssertionsSigned: sp.getAttribute('WantAssertionsSigned'),
    keys,
    slo: endpoints('SingleLogoutService'),
    acs: endpoints('AssertionConsumerService'),
    order,
  };
}

describe('SP metadata', () => {
  test('every SP key is published for signing and for encryption, with the accepted algorithms', () => {
    const md = readSpMetadata(buildSpMetadata(base));
    assert.equal(md.entityId, base.entityId, 'entity ID escaped and read back exactly');
    assert.equal(md.authnRequestsSigned, 'true');
    assert.equal(md.wantAssertionsSigned, 'true');
    for (const k of [SP_KEYS, NEXT]) {
      assert.deepEqual(md.keys.filter((d) => d.cert === k.certBase64).map((d) => d.use), ['signing', 'encryption']);
    }
    const enc = md.keys.filter((d) => d.use === 'encryption');
    for (const d of enc) assert.deepEqual(d.methods, [XENC_ALGORITHMS.aes256Gcm, XENC_ALGORITHMS.aes128Gcm, XENC_ALGORITHMS.rsaOaepMgf1p]);
    assert.deepEqual(md.slo, [['HTTP-Redirect', base.sloUrl], ['HTTP-POST', base.sloUrl]]);
    assert.deepEqual(md.acs, [['HTTP-POST', base.acsUrl]]);
    assert.deepEqual(md.order, ['KeyDescriptor', 'KeyDescriptor', 'KeyDescriptor', 'KeyDescriptor', 'SingleLogoutService', 'SingleLogoutService', 'AssertionConsumerService'], 'schema sequence');
  });

  test('allow_cbc adds the CBC algorithms it accepts; rsa-1_5 is never listed', () => {
    const md = readSpMetadata(buildSpMetadata({ ...base, encryption: { require: false, allow_cbc: true } }));
    const methods = md.keys.find((d) => d.use === 'encryption')!.methods;
    assert.ok(methods.includes(XENC_ALGORITHMS.aes128Cbc) && methods.includes(XENC_ALGORITHMS.aes256Cbc));
    assert.ok(!methods.some((m) => m!.includes('rsa-1_5') || m!.includes('tripledes')));
  });

  test('single_logout: false publishes no SLO endpoint (IdPs must not send logouts that are refused); keys stay', () => {
    const md = readSpMetadata(buildSpMetadata({ ...base, singleLogout: false }));
    assert.deepEqual(md.slo, []);
    assert.equal(md.keys.length, 4);
    assert.equal(readSpMetadata(buildSpMetadata(base)).slo.length, 2, 'control: published when on');
  });

  test('without SP keys: no KeyDescriptor, no SLO endpoint, requests unsigned', () => {
    const md = readSpMetadata(buildSpMetadata({ ...base, keys: [], signRequests: false }));
    assert.deepEqual(md.keys, []);
    assert.deepEqual(md.slo, []);
    assert.equal(md.authnRequestsSigned, 'false');
    assert.equal(md.wantAssertionsSigned, 'true');
  });
});
