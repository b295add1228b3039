/**
 * The EncryptedAssertion gate on its own: one accepted layout, algorithms refused before any
 * decryption, the right SP key found with or without a certificate hint. Inputs are made by
 * xml-encryption's `encrypt` (as an IdP would), then altered the way an attacker would.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { encrypt } from 'xml-encryption';
import { isGatehouseError } from '../../proxy/errors.js';
import { openEncryptedAssertion, sameAssertion, XENC_ALGORITHMS, type EncryptionPolicy } from '../../proxy/saml/encrypted-assertion.js';
import type { SpKey } from '../../proxy/config/sp-keys.js';
import { parseStrictXml } from '../../proxy/saml/xml.js';
import { spKeyOf } from '../helpers/sp-key.js';
import { makeTestKeyPair, SP_KEYS, type TestKeyPair } from '../helpers/test-keys.js';

const NEXT = makeTestKeyPair({ commonName: 'sp-next.gatehouse.test' });
const ASSERTION = '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0"><saml:Issuer>idp</saml:Issuer></saml:Assertion>';
const GCM_ONLY: EncryptionPolicy = { require: false, allow_cbc: false };
let keys: SpKey[];

const spKey = spKeyOf;

function encrypted(to: TestKeyPair, data: string = XENC_ALGORITHMS.aes256Gcm): Promise<string> {
  return new Promise((resolve, reject) => {
    encrypt(ASSERTION, {
      rsa_pub: to.certPem, pem: to.certPem, encryptionAlgorithm: data, keyEncryptionAlgorithm: XENC_ALGORITHMS.rsaOaepMgf1p, keyEncryptionDigest: 'sha1',
    } as Parameters<typeof encrypt>[1], (err, xml) => (err ? reject(err) : resolve(`<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${xml}</saml:EncryptedAssertion>`)));
  });
}

function open(xml: string, policy = GCM_ONLY) {
  return openEncryptedAssertion(parseStrictXml(xml).documentElement, keys, policy);
}

function refusedWith(xml: string, reason: string, policy = GCM_ONLY): void {
  assert.throws(() => open(xml, policy), (e) => isGatehouseError(e) && e.code === 'SAML_LOGIN_FAILED' && e.reason === reason);
}

const noHint = (xml: string) => xml.replace(/<KeyInfo>\s*<X509Data>[\s\S]*?<\/X509Data>\s*<\/KeyInfo>/, '');

before(() => {
  keys = [spKey(SP_KEYS), spKey(NEXT)];
});

describe('openEncryptedAssertion', () => {
  test('control: GCM + OAEP opens, named or not, to either key; the key used is reported', async () => {
    for (const [pair, index] of [[SP_KEYS, 0], [NEXT, 1]] as const) {
      for (const xml of [await encrypted(pair), noHint(await encrypted(pair))]) {
        const opened = open(xml);
        assert.equal(opened.xml, ASSERTION);
        assert.equal(opened.key, keys[index]);
      }
    }
  });

  test('CBC only with allow_cbc; checked before any decryption', async () => {
    const cbc = await encrypted(SP_KEYS, XENC_ALGORITHMS.aes128Cbc);
    refusedWith(cbc, 'encryption-algorithm-not-allowed');
    assert.equal(open(cbc, { require: false, allow_cbc: true }).xml, ASSERTION);
  });

  test('an OAEP digest other than SHA-1 is refused (it would be decrypted differently)', async () => {
    const xml = (await encrypted(SP_KEYS)).replace('xmldsig#sha1', 'xmlenc#sha256');
    refusedWith(xml, 'encryption-algorithm-not-allowed');
  });

  test('key confusion: a second EncryptedKey (for another key) is refused', async () => {
    const xml = await encrypted(SP_KEYS);
    const key = /<e:EncryptedKey[\s\S]*<\/e:EncryptedKey>/.exec(xml)![0];
    refusedWith(xml.replace(key, key + key), 'encrypted-assertion-malformed');
  });

  test('RetrievalMethod / detached EncryptedKey (parser differential, fetching) is refused', async () => {
    const xml = await encrypted(SP_KEYS);
    const key = /<e:EncryptedKey[\s\S]*<\/e:EncryptedKey>/.exec(xml)![0];
    const detached = xml.replace(key, '<RetrievalMethod URI="#k1" Type="http://www.w3.org/2001/04/xmlenc#EncryptedKey"/>').replace('</saml:EncryptedAssertion>', `${key.replace('<e:EncryptedKey', '<e:EncryptedKey Id="k1"')}</saml:EncryptedAssertion>`);
    refusedWith(detached, 'encrypted-assertion-malformed');
  });

  test('CipherReference (fetch the ciphertext from elsewhere) is refused', async () => {
    const xml = (await encrypted(SP_KEYS)).replace(/<xenc:CipherValue>[^<]*<\/xenc:CipherValue>/, '<xenc:CipherReference URI="http://127.0.0.1:9/x"/>');
    refusedWith(xml, 'encrypted-assertion-malformed');
  });

  test('a certificate hint that is none of ours: encryption-key-unknown; no key opens it: decryption-failed', async () => {
    const stranger = makeTestKeyPair({ commonName: 'someone-else.test' });
    refusedWith(await encrypted(stranger), 'encryption-key-unknown');
    refusedWith(noHint(await encrypted(stranger)), 'decryption-failed');
  });

  test('the hint names our first key but the content key was wrapped for the second: decryption-failed', async () => {
    const forNext = await encrypted(NEXT);
    const lied = forNext.replace(NEXT.certBase64, SP_KEYS.certBase64);
    refusedWith(lied, 'decryption-failed');
  });

  // xml-encryption (node-saml's decryption) takes the first `//*[local-name()='CipherValue']` for
  // the key and the first `EncryptedData/CipherData/CipherValue` by local name for the content:
  // copies in a foreign namespace hidden before the real ones would be what node-saml decrypts.
  const X = 'xmlns:x="urn:x"';
  const hide = (xml: string, inside: string) => {
    const out = xml.replace(/(<e:EncryptedKey[^>]*>[\s\S]*?<KeyInfo[^>]*>)/, `$1${inside}`);
    assert.notEqual(out, xml, 'the EncryptedKey has a KeyInfo to hide things in');
    return out;
  };

  test('CipherValue differential: a foreign-namespace CipherValue/EncryptedData inside the EncryptedKey\'s KeyInfo is refused', async () => {
    const xml = await encrypted(SP_KEYS);
    assert.equal(open(xml).xml, ASSERTION, 'control: the same message without the hidden copies opens');
    const wrapped = /<e:CipherValue>([^<]*)<\/e:CipherValue>/.exec(xml)![1]!;
    refusedWith(hide(xml, `<x:CipherValue ${X}>${wrapped}</x:CipherValue>`), 'encrypted-assertion-malformed');
    refusedWith(hide(xml, `<x:EncryptedData ${X}><x:CipherData><x:CipherValue>AAAA</x:CipherValue></x:CipherData></x:EncryptedData>`), 'encrypted-assertion-malformed');
    // In the xenc namespace too, and in a ds:X509Data: only X509Certificate / KeyName are allowed.
    refusedWith(hide(xml, '<e:CipherValue>AAAA</e:CipherValue>'), 'encrypted-assertion-malformed');
    refusedWith(xml.replace(/(<X509Data>)/, `$1<x:CipherValue ${X}>AAAA</x:CipherValue>`), 'encrypted-assertion-malformed');
    assert.equal(open(hide(xml, '<KeyName>sp-2026</KeyName>')).xml, ASSERTION, 'control: a ds:KeyName is allowed');
  });

  test('CipherValue differential: foreign elements in a ReferenceList or CarriedKeyName, or anywhere else, are refused', async () => {
    const xml = await encrypted(SP_KEYS);
    const withRefs = (refs: string) => xml.replace(/(<\/e:CipherData>)(\s*<\/e:EncryptedKey>)/, `$1${refs}$2`);
    const ok = withRefs('<e:ReferenceList><e:DataReference URI="#d"/></e:ReferenceList><e:CarriedKeyName>k</e:CarriedKeyName>');
    assert.notEqual(ok, xml);
    assert.equal(open(ok).xml, ASSERTION, 'control: DataReference and a text CarriedKeyName are allowed');
    refusedWith(withRefs(`<e:ReferenceList><x:CipherValue ${X}>AAAA</x:CipherValue></e:ReferenceList>`), 'encrypted-assertion-malformed');
    refusedWith(withRefs(`<e:ReferenceList><e:DataReference URI="#d"><x:CipherValue ${X}>AAAA</x:CipherValue></e:DataReference></e:ReferenceList>`), 'encrypted-assertion-malformed');
    refusedWith(withRefs(`<e:CarriedKeyName><x:CipherValue ${X}>AAAA</x:CipherValue></e:CarriedKeyName>`), 'encrypted-assertion-malformed');
    refusedWith(xml.replace(/(<xenc:EncryptionMethod [^>]*)\/>/, `$1><x:CipherValue ${X}>AAAA</x:CipherValue></xenc:EncryptionMethod>`), 'encrypted-assertion-malformed');
    refusedWith(xml.replace(/(<e:CipherValue>)/, `$1<x:y ${X}/>`), 'encrypted-assertion-malformed');
  });

  test('sameAssertion: what node-saml verified must be, canonically, the assertion Gatehouse inspected', () => {
    const signed = ASSERTION.replace('</saml:Issuer>', '</saml:Issuer><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature>');
    assert.equal(sameAssertion(signed, ASSERTION), true, 'control: the signature and namespace placement do not matter');
    assert.equal(sameAssertion(ASSERTION, ASSERTION.replace('<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"', '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:unused="urn:u"')), true);
    const stub = '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1"/>';
    assert.equal(sameAssertion(stub, signed), false, 'a stub with the genuine ID is not the genuine assertion');
    assert.equal(sameAssertion(ASSERTION, ASSERTION.replace('>idp<', '>idp2<')), false);
  });
});
