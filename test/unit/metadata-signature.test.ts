import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { isGatehouseError } from '../../proxy/errors.js';
import { parseIdpMetadata } from '../../proxy/saml/idp-metadata.js';
import { readPinnedCerts, verifyMetadataSignature, type MetadataSignaturePin } from '../../proxy/saml/metadata-signature.js';
import { metadataXml, signMetadata } from '../helpers/metadata-signer.js';
import { ATTACKER_KEYS, IDP_KEYS } from '../helpers/test-keys.js';

const IDP_FP = new X509Certificate(IDP_KEYS.certPem).fingerprint256;
const ATTACKER_FP = new X509Certificate(ATTACKER_KEYS.certPem).fingerprint256;
const byFingerprint: MetadataSignaturePin = { fingerprints: [IDP_FP] };
const byCertFile: MetadataSignaturePin = { certs: readPinnedCerts(IDP_KEYS.certPem) };
const md = (o: { entityId?: string; ssoUrl?: string; id?: string; certs?: string[] } = {}) =>
  metadataXml({ entityId: o.entityId ?? 'https://idp.example/md', ssoUrl: o.ssoUrl ?? 'https://idp.example/sso', certBase64s: o.certs ?? [IDP_KEYS.certBase64], id: o.id });
const genuine = signMetadata(md());

/** The refusal reason, or the entity ID and SSO URL read from what the signature covers. */
function verdict(xml: string, pin: MetadataSignaturePin): string {
  try {
    const m = parseIdpMetadata(verifyMetadataSignature(xml, pin));
    return `ok ${m.entityId} ${m.sso.redirect}`;
  } catch (err) {
    return isGatehouseError(err) ? err.reason : `unexpected: ${String(err)}`;
  }
}
const OK = 'ok https://idp.example/md https://idp.example/sso';

describe('IdP metadata signature: controls', () => {
  test('signed by the IdP key, fingerprint pinned: accepted', () => assert.equal(verdict(genuine, byFingerprint), OK));
  test('signed by the IdP key, certificate file pinned: accepted', () => assert.equal(verdict(genuine, byCertFile), OK));
  test('fingerprint written lower-case without colons: accepted', () => assert.equal(verdict(genuine, { fingerprints: [IDP_FP.replace(/:/g, '').toLowerCase()] }), OK));
  test('Reference URI="" (whole document): accepted', () => assert.equal(verdict(signMetadata(md(), { emptyUri: true }), byFingerprint), OK));
  test('rsa-sha512: accepted', () => assert.equal(verdict(signMetadata(md(), { signatureAlgorithm: 'sha512', digestAlgorithm: 'sha512' }), byFingerprint), OK));
  test('certificate file with several certificates (signer rollover): the listed one that signed is used', () => {
    assert.equal(verdict(genuine, { certs: readPinnedCerts(`${ATTACKER_KEYS.certPem}\n${IDP_KEYS.certPem}`) }), OK);
  });
  test('pinned cert file ignores KeyInfo: signed without KeyInfo still verifies', () => {
    assert.equal(verdict(signMetadata(md(), { includeKeyInfo: false }), byCertFile), OK);
  });
});

describe('IdP metadata signature: attacks', () => {
  test('unsigned metadata while a signature is pinned', () => assert.equal(verdict(md(), byFingerprint), 'metadata-unsigned'));
  test('tampered after signing: SSO URL changed to the attacker', () => {
    assert.equal(verdict(genuine.replace('https://idp.example/sso', 'https://evil.example/sso'), byFingerprint), 'metadata-signature-invalid');
  });
  test('tampered after signing: attacker certificate added to the signing keys', () => {
    const tampered = genuine.replace('</md:KeyDescriptor>', `</md:KeyDescriptor><md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${ATTACKER_KEYS.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`);
    assert.equal(verdict(tampered, byCertFile), 'metadata-signature-invalid');
    assert.equal(verdict(tampered, byFingerprint), 'metadata-signature-invalid');
  });
  test('signed by another key, its own certificate in KeyInfo (fingerprint pin)', () => {
    assert.equal(verdict(signMetadata(md(), { keys: ATTACKER_KEYS }), byFingerprint), 'metadata-signer-not-pinned');
  });
  test('signed by another key (certificate file pin): KeyInfo is not trusted', () => {
    assert.equal(verdict(signMetadata(md(), { keys: ATTACKER_KEYS }), byCertFile), 'metadata-signature-invalid');
  });
  test('signed by another key with the pinned certificate copied into KeyInfo', () => {
    const forged = signMetadata(md(), { keys: ATTACKER_KEYS }).replace(ATTACKER_KEYS.certBase64, IDP_KEYS.certBase64);
    assert.equal(verdict(forged, byFingerprint), 'metadata-signature-invalid');
  });
  test('the attacker pins nothing: a pin on the attacker fingerprint does not accept the IdP signature', () => {
    assert.equal(verdict(genuine, { fingerprints: [ATTACKER_FP] }), 'metadata-signer-not-pinned');
  });
  test('SHA-1 signature (rsa-sha1)', () => assert.equal(verdict(signMetadata(md(), { signatureAlgorithm: 'sha1' }), byFingerprint), 'metadata-signature-weak-algorithm'));
  test('SHA-1 digest under an rsa-sha256 signature', () => assert.equal(verdict(signMetadata(md(), { digestAlgorithm: 'sha1' }), byFingerprint), 'metadata-signature-weak-algorithm'));
  test('HMAC keyed with the public certificate (algorithm confusion)', () => {
    const hmac = genuine.replace('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', 'http://www.w3.org/2000/09/xmldsig#hmac-sha1');
    assert.equal(verdict(hmac, byFingerprint), 'metadata-signature-weak-algorithm');
  });
  test('wrapping: signed EntityDescriptor inside an unsigned EntitiesDescriptor that adds another entity', () => {
    const evil = md({ entityId: 'https://evil.example/md', ssoUrl: 'https://evil.example/sso', id: '_evil', certs: [ATTACKER_KEYS.certBase64] }).replace('<md:IDPSSODescriptor', '<md:SPSSODescriptor').replace('</md:IDPSSODescriptor>', '</md:SPSSODescriptor>');
    const wrapped = `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${genuine}${evil}</md:EntitiesDescriptor>`;
    assert.equal(verdict(wrapped, byFingerprint), 'metadata-unsigned');
  });
  test('wrapping: the genuine signature moved onto an attacker root that embeds the signed entity', () => {
    const sig = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(genuine)![0];
    const inner = genuine.replace(sig, '');
    const evilRoot = md({ entityId: 'https://evil.example/md', ssoUrl: 'https://evil.example/sso', id: '_evil', certs: [ATTACKER_KEYS.certBase64] });
    const wrapped = evilRoot.replace('<md:IDPSSODescriptor', `${sig}<md:Extensions>${inner}</md:Extensions><md:IDPSSODescriptor`);
    assert.equal(verdict(wrapped, byFingerprint), 'metadata-signature-not-root');
  });
  test('wrapping: attacker root with the same ID as the signed entity it embeds (duplicate ID)', () => {
    const sig = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(genuine)![0];
    const inner = genuine.replace(sig, '');
    const evilRoot = md({ entityId: 'https://evil.example/md', ssoUrl: 'https://evil.example/sso', id: '_md1', certs: [ATTACKER_KEYS.certBase64] });
    const wrapped = evilRoot.replace('<md:IDPSSODescriptor', `${sig}<md:Extensions>${inner}</md:Extensions><md:IDPSSODescriptor`);
    assert.equal(verdict(wrapped, byFingerprint), 'metadata-signature-invalid');
  });
  test('signature over a child element only (Reference not the root)', () => {
    const partial = signMetadata(md().replace('<md:IDPSSODescriptor', '<md:IDPSSODescriptor ID="_role"'), { xpath: "//*[local-name(.)='IDPSSODescriptor']" });
    assert.equal(verdict(partial, byFingerprint), 'metadata-unsigned');
  });
  test('two signatures on the root', () => {
    const sig = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(genuine)![0];
    assert.equal(verdict(genuine.replace(sig, sig + sig), byFingerprint), 'metadata-signature-ambiguous');
  });
  test('signature without a SignatureValue', () => {
    assert.equal(verdict(genuine.replace(/<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/, ''), byFingerprint), 'metadata-signature-invalid');
  });
  test('signature without a CanonicalizationMethod', () => {
    assert.equal(verdict(genuine.replace(/<ds:CanonicalizationMethod [^>]*\/>/, ''), byFingerprint), 'metadata-signature-malformed');
  });
  test('DTD in signed metadata (XXE)', () => {
    assert.equal(verdict(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${genuine}`, byFingerprint), 'xml-dtd-present');
  });
});

describe('pinned certificate file', () => {
  test('no certificate in the file is refused', () => {
    assert.throws(() => readPinnedCerts('nothing here'), (e) => isGatehouseError(e) && e.reason === 'metadata-pin-no-certificate');
  });
  test('reads every certificate', () => assert.equal(readPinnedCerts(`${IDP_KEYS.certPem}${ATTACKER_KEYS.certPem}`).length, 2));
});
