/**
 * The test IdP signer against @node-saml/node-saml 5.1.0: genuine responses are accepted, the
 * tamper helpers' attacks are rejected, and the checks node-saml 5.1 does NOT make are recorded
 * as characterisation tests. If one of those starts failing, node-saml changed: re-read the
 * Gatehouse checks that compensate for it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { DOMParser } from '@xmldom/xmldom';
import { SAML, ValidateInResponseTo, type Profile } from '@node-saml/node-saml';
import { buildSignedResponseXml, encodeResponse, signedResponse, type ResponseOptions } from '../helpers/saml-idp-signer.js';
import {
  addDoctype, corruptSignatureValue, duplicateAssertion, injectComment, replaceNameId,
  stripSignatures, wrapAssertion,
} from '../helpers/saml-tamper.js';
import { ATTACKER_KEYS, IDP_KEYS, SP_KEYS, makeTestKeyPair } from '../helpers/test-keys.js';

const BASE: ResponseOptions = {
  idpEntityId: 'https://idp.example.test/saml2/idp/metadata.php',
  spEntityId: 'https://gatehouse.example.test/.gatehouse/saml/metadata',
  acsUrl: 'https://gatehouse.example.test/.gatehouse/saml/acs',
  inResponseTo: '_0f1e2d3c4b5a69788796a5b4c3d2e1f0',
  nameId: 'alice@example.com',
};

const AWKWARD = {
  groups: ['ml-admins', 'a & b', '<script>alert(1)</script>', 'c,d;e f', '"quoted" \'single\'', ']]>'],
  displayName: ['Zoë Ångström 東京 🚀'],
  'urn:oid:1.3.6.1.4.1.5923.1.1.1.7': ['  padded value  '],
};

const SIGNATURE_MISMATCH = /^Invalid signature$/;

/** node-saml configured exactly as the brief says (its defaults otherwise). */
function makeSp(): SAML {
  return new SAML({
    callbackUrl: BASE.acsUrl, entryPoint: 'http://127.0.0.1:1/sso',
    issuer: BASE.spEntityId, audience: BASE.spEntityId, idpCert: IDP_KEYS.certPem,
    wantAssertionsSigned: true, wantAuthnResponseSigned: false,
    validateInResponseTo: ValidateInResponseTo.never,
  });
}

function genuine(o: Partial<ResponseOptions> = {}): string {
  return buildSignedResponseXml({ ...BASE, ...o });
}

async function accept(xml: string): Promise<Profile> {
  const { profile } = await makeSp().validatePostResponseAsync({ SAMLResponse: encodeResponse(xml) });
  assert.ok(profile, 'node-saml returned no profile');
  return profile;
}

async function reject(xml: string, message: RegExp): Promise<void> {
  await assert.rejects(makeSp().validatePostResponseAsync({ SAMLResponse: encodeResponse(xml) }), { message });
}

function parse(xml: string): Document {
  return new DOMParser().parseFromString(xml, 'text/xml');
}

/** Local names of an element's element children, in order. */
function childNames(el: Element): string[] {
  return Array.from(el.childNodes).filter((n) => n.nodeType === 1).map((n) => (n as Element).localName);
}

describe('saml-idp-signer: node-saml 5.1 accepts genuine responses', () => {
  it('accepts a signed assertion and returns NameID, issuer, session and awkward attributes intact', async () => {
    const profile = await accept(genuine({ attributes: AWKWARD, sessionIndex: '_sess-1' }));
    assert.equal(profile.nameID, 'alice@example.com');
    assert.equal(profile.nameIDFormat, 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
    assert.equal(profile.issuer, BASE.idpEntityId);
    assert.equal(profile.sessionIndex, '_sess-1');
    assert.deepEqual(profile['attributes'], {
      groups: AWKWARD.groups,
      displayName: AWKWARD.displayName[0],
      'urn:oid:1.3.6.1.4.1.5923.1.1.1.7': '  padded value  ',
    });
  });

  it('accepts a response with both the Response and the Assertion signed', async () => {
    const profile = await accept(genuine({ signResponse: true, attributes: { groups: AWKWARD.groups } }));
    assert.equal(profile.nameID, 'alice@example.com');
    assert.deepEqual(profile['attributes'], { groups: AWKWARD.groups });
  });

  it('accepts SHA-512, and signatures without KeyInfo (the SP uses its configured cert)', async () => {
    assert.equal((await accept(genuine({ signatureAlgorithm: 'sha512', digestAlgorithm: 'sha512' }))).nameID, 'alice@example.com');
    assert.equal((await accept(genuine({ includeKeyInfo: false }))).nameID, 'alice@example.com');
  });

  it('signedResponse is base64 of the XML, and a DOM round trip alone keeps it valid', async () => {
    const b64 = signedResponse(BASE);
    assert.match(Buffer.from(b64, 'base64').toString('utf8'), /^<\?xml version="1.0" encoding="UTF-8"\?><samlp:Response /);
    // Every tamper helper re-serializes through xmldom: prove that by itself breaks nothing.
    assert.equal((await accept(replaceNameId(genuine({ signResponse: true }), 'alice@example.com'))).nameID, 'alice@example.com');
  });

  it('places each ds:Signature right after its Issuer, with IdP-style IDs, bearer confirmation and conditions', () => {
    const doc = parse(genuine({ signResponse: true, attributes: { groups: ['a', 'b'] } }));
    const response = doc.documentElement;
    const assertion = response.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'Assertion')[0];
    assert.ok(assertion);
    assert.deepEqual(childNames(response), ['Issuer', 'Signature', 'Status', 'Assertion']);
    assert.deepEqual(childNames(assertion),
      ['Issuer', 'Signature', 'Subject', 'Conditions', 'AuthnStatement', 'AttributeStatement']);
    for (const id of [response.getAttribute('ID'), assertion.getAttribute('ID')]) assert.match(id ?? '', /^_[0-9a-f]{40}$/);
    assert.equal(response.getAttribute('Destination'), BASE.acsUrl);
    const xml = doc.toString();
    assert.match(xml, /<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="[^"]+" Recipient="https:\/\/gatehouse\.example\.test\/\.gatehouse\/saml\/acs" InResponseTo="_0f1e/);
    assert.match(xml, /<saml:AudienceRestriction><saml:Audience>https:\/\/gatehouse\.example\.test\/\.gatehouse\/saml\/metadata</);
    assert.match(xml, /<saml:AttributeValue xsi:type="xs:string">a<\/saml:AttributeValue><saml:AttributeValue xsi:type="xs:string">b</);
    assert.match(xml, /rsa-sha256".*xmlenc#sha256".*<ds:X509Certificate>/);
  });
});

describe('saml-idp-signer + saml-tamper: node-saml 5.1 rejects forged responses', () => {
  it('rejects a signature made with a key other than the configured IdP cert', async () => {
    await reject(genuine({ keys: ATTACKER_KEYS }), SIGNATURE_MISMATCH);
    await reject(genuine({ keys: ATTACKER_KEYS, signResponse: true }), SIGNATURE_MISMATCH);
  });

  it('rejects a NameID changed after signing', async () => {
    await reject(replaceNameId(genuine(), 'bob@example.com'), SIGNATURE_MISMATCH);
    await reject(replaceNameId(genuine({ signResponse: true }), 'bob@example.com'), SIGNATURE_MISMATCH);
  });

  it('rejects stripped signatures, and an assertion signed only through the Response', async () => {
    await reject(stripSignatures(genuine({ signResponse: true })), SIGNATURE_MISMATCH);
    await reject(stripSignatures(genuine({ signResponse: true }), 'assertion'), SIGNATURE_MISMATCH);
    await reject(genuine({ signResponse: true, signAssertion: false }), SIGNATURE_MISMATCH);
  });

  it('rejects a corrupted SignatureValue', async () => {
    await reject(corruptSignatureValue(genuine()), SIGNATURE_MISMATCH);
    await reject(corruptSignatureValue(genuine({ signResponse: true }), 'assertion'), SIGNATURE_MISMATCH);
  });

  it('rejects signature wrapping (XSW) in every variant the helper makes', async () => {
    const evil = { nameId: 'admin@example.com' };
    await reject(wrapAssertion(genuine(), evil), SIGNATURE_MISMATCH);
    await reject(wrapAssertion(genuine(), { ...evil, keepSignature: true }), /Referenced node does not refer to it's parent element/);
    await reject(wrapAssertion(genuine(), { ...evil, keepSignature: true, sameId: true }), /ID cannot refer to more than one element/);
    await reject(wrapAssertion(genuine({ signResponse: true }), { ...evil, keepSignature: true }), /does not refer to it's parent/);
    // Rejected only because the hidden assertion's own Transforms are counted: an incidental check.
    await reject(wrapAssertion(genuine(), { ...evil, container: 'object' }), /too many transforms/);
  });

  it('rejects a second assertion, identical or evil, before or after', async () => {
    await reject(duplicateAssertion(genuine()), /multiple assertions/);
    await reject(duplicateAssertion(genuine(), { nameId: 'admin@example.com', position: 'before' }), /multiple assertions/);
  });

  it('does check audience and validity window (for contrast with what it does not check)', async () => {
    await reject(genuine({ audience: 'https://other.example.test/sp' }), /audience mismatch/);
    await reject(genuine({ audience: null }), /has no AudienceRestriction/);
    await reject(genuine({ now: new Date(Date.now() - 3_600_000) }), /SAML assertion expired/);
    await reject(genuine({ now: new Date(Date.now() + 3_600_000) }), /SAML assertion not yet valid/);
    await reject(genuine({ statusCode: 'Responder' }), /SAML provider returned Responder error/);
  });
});

describe('characterisation: what node-saml 5.1 does NOT reject (Gatehouse must)', () => {
  it('node-saml 5.1 does NOT check Destination/Recipient/Issuer — Gatehouse must', async () => {
    assert.equal((await accept(genuine({ destination: 'https://evil.example.test/acs' }))).nameID, 'alice@example.com');
    assert.equal((await accept(genuine({ destination: null }))).nameID, 'alice@example.com');
    assert.equal((await accept(genuine({ recipient: 'https://evil.example.test/acs' }))).nameID, 'alice@example.com');
    const evilIssuer = 'https://evil.example.test/idp';
    const profile = await accept(genuine({ issuer: evilIssuer, assertionIssuer: evilIssuer }));
    assert.equal(profile.issuer, evilIssuer, 'the wrong issuer is even reported as the profile issuer');
  });

  it('node-saml 5.1 accepts SHA-1 signatures and digests — Gatehouse must refuse them', async () => {
    assert.equal((await accept(genuine({ signatureAlgorithm: 'sha1', digestAlgorithm: 'sha1' }))).nameID, 'alice@example.com');
  });

  it('node-saml 5.1 accepts a DOCTYPE with an internal subset — Gatehouse must refuse any DTD', async () => {
    const xml = addDoctype(genuine(), '<!DOCTYPE samlp:Response [<!ENTITY x "y">]>');
    assert.equal((await accept(xml)).nameID, 'alice@example.com');
  });

  it('node-saml 5.1 accepts a comment in NameID and returns the full signed value (not the truncated one)', async () => {
    const xml = injectComment(genuine({ nameId: 'alice@example.com.evil.com' }));
    assert.match(xml, />alice@example\.com<!---->\.evil\.com</);
    // node-saml reads the canonicalized signed bytes, so the comment-truncation attack fails;
    // Gatehouse must keep reading NameID from node-saml's profile, never from the raw XML.
    assert.equal((await accept(xml)).nameID, 'alice@example.com.evil.com');
  });

  it('node-saml 5.1 ignores a stripped or corrupted Response signature when wantAuthnResponseSigned is false', async () => {
    assert.equal((await accept(stripSignatures(genuine({ signResponse: true }), 'response'))).nameID, 'alice@example.com');
    assert.equal((await accept(corruptSignatureValue(genuine({ signResponse: true }), 'response'))).nameID, 'alice@example.com');
  });

  it('node-saml 5.1 does NOT check Status when a signed assertion is present — Gatehouse must', async () => {
    const profile = await accept(genuine({ statusCode: 'Responder', includeAssertion: true }));
    assert.equal(profile.nameID, 'alice@example.com');
  });

  it('node-saml 5.1 with validateInResponseTo "never" ignores a SubjectConfirmationData InResponseTo mismatch', async () => {
    assert.equal((await accept(genuine({ subjectConfirmationInResponseTo: '_someone-elses-request' }))).nameID, 'alice@example.com');
  });

  it('node-saml 5.1 does not look at AuthnContextClassRef in responses', async () => {
    const weak = 'urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified';
    assert.equal((await accept(genuine({ authnContextClassRef: weak }))).nameID, 'alice@example.com');
  });

  it('node-saml 5.1 rejects an assertion without Conditions only through a TypeError, not a check', async () => {
    await reject(genuine({ omitConditions: true }), /Cannot read properties of null \(reading 'AudienceRestriction'\)/);
  });
});

describe('test helpers: keys and tamper guards', () => {
  it('caches key pairs per options, makes fresh ones on request and honours notBefore', () => {
    assert.equal(makeTestKeyPair({ commonName: 'idp.gatehouse.test' }), IDP_KEYS);
    assert.notEqual(IDP_KEYS.certPem, ATTACKER_KEYS.certPem);
    assert.notEqual(IDP_KEYS.certPem, SP_KEYS.certPem);
    const notBefore = new Date('2020-01-01T00:00:00Z');
    const old = makeTestKeyPair({ commonName: 'expired.test', notBefore, days: 1, fresh: true });
    const cert = new X509Certificate(old.certPem);
    assert.equal(new Date(cert.validFrom).toISOString(), notBefore.toISOString());
    assert.equal(new Date(cert.validTo).toISOString(), '2020-01-02T00:00:00.000Z');
    assert.equal(cert.raw.toString('base64'), old.certBase64);
    assert.ok(cert.checkPrivateKey(createPrivateKey(old.privateKeyPem)));
  });

  it('tamper helpers throw instead of silently doing nothing', () => {
    const unsigned = genuine({ signAssertion: false });
    assert.throws(() => stripSignatures(unsigned), /no ds:Signature/);
    assert.throws(() => corruptSignatureValue(genuine(), 'response'), /no ds:Signature/);
    assert.throws(() => injectComment(genuine(), 'bob'), /does not start with bob/);
    assert.throws(() => addDoctype(genuine(), '<!ENTITY x "y">'), /must start with <!DOCTYPE/);
    assert.throws(() => replaceNameId(genuine({ statusCode: 'Responder' }), 'x'), /no saml:Assertion/);
  });

  it('reports the cost of one signed response', (t) => {
    for (const [label, o] of [['assertion signed', {}], ['assertion + response signed', { signResponse: true }]] as const) {
      genuine(o);
      const n = 50;
      const start = performance.now();
      for (let i = 0; i < n; i += 1) genuine({ ...o, attributes: AWKWARD });
      t.diagnostic(`${label}: ${((performance.now() - start) / n).toFixed(2)} ms per response`);
    }
  });
});
