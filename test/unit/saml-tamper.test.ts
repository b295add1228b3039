/**
 * The attack helpers of test/helpers/saml-tamper.ts, checked on their own: each does what its
 * comment says, the attack is *live* (the signatures it leaves still verify for a naive verifier,
 * so a refusal by Gatehouse is not the tamper breaking the crypto), Gatehouse's response guard
 * refuses it, and what node-saml 5.1 would do without the guard (the backstop column of
 * docs/saml-attacks.md). If a node-saml characterisation changes, re-read that document.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { SignedXml } from 'xml-crypto';
import { inspectResponse } from '../../proxy/saml/response-guard.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { buildSignedResponseXml, encodeResponse, hmacSignAssertionXml, signElement, type ResponseOptions } from '../helpers/saml-idp-signer.js';
import {
  addEncryptedAssertion, addForeignNamespaceAssertion, addTransform, corruptDigestValue, declareEncoding, duplicateIdAttribute, encodeUtf16, injectNode,
  moveSignatureIntoAssertion, plantLogoutResponse, reuseAssertionIdOnResponse, roundTrip, XSW,
} from '../helpers/saml-tamper.js';
import { IDP_KEYS } from '../helpers/test-keys.js';

const BASE: ResponseOptions = {
  idpEntityId: 'https://idp.example.test/metadata',
  spEntityId: 'https://gatehouse.example.test/.gatehouse/saml/lab/metadata',
  acsUrl: 'https://gatehouse.example.test/.gatehouse/saml/lab/acs',
  inResponseTo: '_0f1e2d3c4b5a69788796a5b4c3d2e1f0',
  nameId: 'alice@example.com',
  attributes: { email: ['alice@example.com'], groups: ['ml-engineers'] },
};
const MALLORY = 'mallory@example.com';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';

const genuine = (o: Partial<ResponseOptions> = {}) => buildSignedResponseXml({ ...BASE, ...o });
const parse = (xml: string) => new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;

/** Checks every ds:Signature of the document as a naive verifier would: "is it a valid signature by the IdP key over what its Reference names?" */
function naiveVerdicts(xml: string): boolean[] {
  return Array.from(parse(xml).getElementsByTagNameNS(DS, 'Signature')).map((sig) => {
    const v = new SignedXml({ publicCert: IDP_KEYS.certPem });
    v.loadSignature(sig as unknown as Node);
    return v.checkSignature(xml);
  });
}

/** The reason Gatehouse's response guard gives, or `passed`. */
function guardReason(xml: string): string {
  try {
    inspectResponse(encodeResponse(xml), 1_000_000);
    return 'passed';
  } catch (err) {
    assert.ok(isGatehouseError(err), String(err));
    return err.reason;
  }
}

/** node-saml 5.1 alone, configured as Gatehouse configures it (minus the request tracker). */
async function nodeSamlAlone(xml: string, responseSigned: boolean): Promise<string> {
  const sp = new SAML({
    callbackUrl: BASE.acsUrl, entryPoint: 'http://127.0.0.1:1/sso', issuer: BASE.spEntityId, audience: BASE.spEntityId,
    idpCert: IDP_KEYS.certPem, idpIssuer: BASE.idpEntityId, wantAssertionsSigned: true, wantAuthnResponseSigned: responseSigned,
    validateInResponseTo: ValidateInResponseTo.never,
  });
  try {
    const { profile } = await sp.validatePostResponseAsync({ SAMLResponse: encodeResponse(xml) });
    return `accepted ${profile?.nameID}`;
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

/** The Subject/NameID of every Assertion (any namespace), in document order. */
function nameIdsInOrder(xml: string): string[] {
  const child = (el: Element, name: string) => Array.from(el.childNodes).find((n) => (n as Element).localName === name) as Element | undefined;
  return Array.from(parse(xml).getElementsByTagName('*'))
    .filter((e) => e.localName === 'Assertion')
    .map((a) => child(child(a, 'Subject') ?? a, 'NameID')?.textContent ?? '');
}

describe('the genuine response and the round trip', () => {
  it('is accepted by the guard and node-saml, before and after a tamper round trip', async () => {
    for (const signResponse of [false, true]) {
      const xml = genuine({ signResponse });
      for (const doc of [xml, roundTrip(xml)]) {
        assert.equal(guardReason(doc), 'passed');
        assert.ok(naiveVerdicts(doc).every(Boolean));
        assert.equal(await nodeSamlAlone(doc, signResponse), 'accepted alice@example.com');
      }
    }
  });
});

describe('honest variants the guard accepts (its refusals are not false positives)', () => {
  for (const [name, edit] of [
    ['encoding="utf-8" in lower case', (x: string) => declareEncoding(x, 'utf-8')],
    ['no XML declaration', (x: string) => x.replace(/^<\?xml[^>]*\?>/, '')],
    ['a UTF-8 byte-order mark', (x: string) => `\uFEFF${x}`],
    ['an empty samlp:Extensions', (x: string) => x.replace('<samlp:Status>', '<samlp:Extensions/><samlp:Status>')],
  ] as const) {
    it(`passes: ${name}`, () => {
      assert.equal(guardReason(edit(genuine())), 'passed');
    });
  }
});

describe('XSW1-XSW8', () => {
  /** What node-saml 5.1 does without Gatehouse's guard: refuses, or (XSW7) reads the genuine assertion. */
  const nodeSaml: Record<string, RegExp> = {
    xsw1: /^refused: Invalid signature/, xsw2: /^refused: Invalid signature/, xsw3: /^refused: Invalid signature: multiple assertions/,
    xsw4: /^refused: Invalid signature/, xsw5: /^refused: Invalid signature: multiple assertions/, xsw6: /^refused: Invalid signature/,
    xsw7: /^accepted alice@example\.com$/, xsw8: /^refused: Invalid signature/,
  };
  for (const [name, wrap] of Object.entries(XSW)) {
    const signResponse = name === 'xsw1' || name === 'xsw2';
    it(`${name.toUpperCase()}: the evil identity is present, every signature still verifies naively, the guard refuses`, async () => {
      const xml = wrap(genuine({ signResponse }), MALLORY);
      const names = nameIdsInOrder(xml);
      assert.ok(names.includes(MALLORY) && names.includes('alice@example.com'), `both identities present: ${names.join(', ')}`);
      const verdicts = naiveVerdicts(xml);
      assert.ok(verdicts.length >= 1 && verdicts.every(Boolean), `the attack is live: ${verdicts.join(', ')}`);
      assert.equal(guardReason(xml), 'not-exactly-one-assertion');
      assert.match(await nodeSamlAlone(xml, signResponse), nodeSaml[name]!);
    });
  }

  it('XSW3 and XSW7 put the evil assertion first in document order; XSW4 makes it the Response child', () => {
    const xml = genuine();
    assert.equal(nameIdsInOrder(XSW.xsw3(xml, MALLORY))[0], MALLORY);
    assert.equal(nameIdsInOrder(XSW.xsw7(xml, MALLORY))[0], MALLORY);
    const doc = parse(XSW.xsw4(xml, MALLORY));
    const direct = Array.from(doc.documentElement.childNodes).filter((n) => (n as Element).localName === 'Assertion') as Element[];
    assert.equal(direct.length, 1);
    assert.equal(nameIdsInOrder(XSW.xsw4(xml, MALLORY))[0], MALLORY, 'the Response child, first in document order');
  });

  it('XSW1 and XSW2 need a signed Response (the helper refuses to do nothing)', () => {
    assert.throws(() => XSW.xsw1(genuine(), MALLORY), /Response ds:Signature/);
    assert.throws(() => XSW.xsw2(genuine(), MALLORY), /Response ds:Signature/);
  });
});

describe('other tamper helpers', () => {
  it('corruptDigestValue changes one byte of each DigestValue in scope and nothing else', () => {
    const xml = genuine({ signResponse: true });
    const digests = (x: string) => Array.from(parse(x).getElementsByTagNameNS(DS, 'DigestValue')).map((d) => Buffer.from(d.textContent!, 'base64'));
    const [before, after] = [digests(xml), digests(corruptDigestValue(xml, 'assertion'))];
    assert.equal(before.length, 2);
    const diffs = before.map((b, i) => b.reduce((n, byte, j) => n + (byte !== after[i]![j] ? 1 : 0), 0));
    assert.deepEqual(diffs.sort(), [0, 1]);
  });

  for (const node of ['comment', 'processing-instruction'] as const) {
    it(`injectNode (${node}) splits the NameID text without changing it; after signing, the signature still verifies for a naive verifier`, () => {
      const xml = injectNode(genuine({ nameId: 'alice@example.com.evil.com' }), { nameId: true }, node, 'alice@example.com');
      const nameId = parse(xml).getElementsByTagNameNS(SAML_NS, 'NameID')[0]!;
      assert.equal(nameId.textContent, 'alice@example.com.evil.com');
      assert.equal(nameId.firstChild!.nodeValue, 'alice@example.com', 'a reader of the first text node sees the truncated name');
      assert.equal(nameId.childNodes.length, 3);
      if (node === 'comment') assert.ok(naiveVerdicts(xml).every(Boolean), 'comments are outside exclusive c14n: the attack is live');
      assert.equal(guardReason(xml), node === 'comment' ? 'xml-comment-present' : 'xml-processing-instruction-present');
    });
  }

  it('injectNode reaches every value of an attribute', () => {
    const xml = injectNode(genuine({ attributes: { groups: ['ml-engineers-readonly', 'ml-engineers-x'] } }), { attribute: 'groups' }, 'comment', 'ml-engineers');
    assert.equal((xml.match(/<!---->/g) ?? []).length, 2);
  });

  it('an HMAC signature keyed with the IdP certificate: node-saml alone refuses it too (xml-crypto 6 has HMAC off)', async () => {
    const xml = hmacSignAssertionXml(genuine({ nameId: MALLORY, signAssertion: false }), Buffer.from(IDP_KEYS.certPem));
    assert.match(xml, /SignatureMethod Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmldsig-more#hmac-sha256"/);
    assert.equal(guardReason(xml), 'weak-signature-algorithm');
    assert.match(await nodeSamlAlone(xml, false), /^refused/);
  });

  it('a signature borrowed from an IdP-signed LogoutResponse verifies naively; the guard lets it through and node-saml refuses it', async () => {
    const planted = plantLogoutResponse(genuine({ nameId: MALLORY, signAssertion: false }), '_lr', BASE.idpEntityId);
    const xml = moveSignatureIntoAssertion(signElement(planted, "//*[local-name(.)='LogoutResponse']", {}), '_lr');
    assert.ok(naiveVerdicts(xml).every(Boolean));
    assert.equal(guardReason(xml), 'passed');
    assert.match(await nodeSamlAlone(xml, false), /^refused: Invalid signature/);
  });

  it('an XSLT transform added to the Reference: the guard refuses it before any signature work; xml-crypto refuses it too', async () => {
    const xml = addTransform(genuine(), 'http://www.w3.org/TR/1999/REC-xslt-19991116', '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"/>');
    assert.match(xml, /<ds:Transform Algorithm="http:\/\/www\.w3\.org\/TR\/1999\/REC-xslt-19991116"><xsl:stylesheet/);
    assert.equal(guardReason(xml), 'signature-transform-not-allowed');
    assert.match(await nodeSamlAlone(xml, false), /^refused/);
  });

  it('a CDATA split keeps the signature valid and the whole value readable', async () => {
    const xml = injectNode(genuine({ nameId: 'alice@example.com.evil.com' }), { nameId: true }, 'cdata', 'alice@example.com');
    assert.match(xml, />alice@example\.com<!\[CDATA\[\.evil\.com\]\]><\/saml:NameID>/);
    assert.equal(guardReason(xml), 'passed');
    assert.equal(await nodeSamlAlone(xml, false), 'accepted alice@example.com.evil.com');
  });

  it('an ID shared by the Response and the Assertion: the guard refuses; xml-crypto refuses too', async () => {
    const xml = reuseAssertionIdOnResponse(genuine());
    assert.equal(guardReason(xml), 'duplicate-id');
    assert.match(await nodeSamlAlone(xml, false), /^refused/);
  });

  it('an ID attribute written twice is not well-formed', () => {
    const xml = duplicateIdAttribute(genuine());
    assert.match(xml, /<saml:Assertion [^>]*ID="_evil" ID="_/);
    assert.equal(guardReason(xml), 'xml-malformed');
  });

  it('a foreign-namespace assertion: node-saml (local names) sees two, the guard counts it too', async () => {
    const xml = addForeignNamespaceAssertion(genuine(), 'urn:evil', MALLORY);
    assert.equal(parse(xml).getElementsByTagNameNS(SAML_NS, 'Assertion').length, 1, 'a namespace-aware reader sees one');
    assert.deepEqual(nameIdsInOrder(xml), [MALLORY, 'alice@example.com']);
    assert.equal(guardReason(xml), 'not-exactly-one-assertion');
    assert.match(await nodeSamlAlone(xml, false), /multiple assertions/);
  });

  it('Assertion plus EncryptedAssertion: refused by the guard and by node-saml', async () => {
    const xml = addEncryptedAssertion(genuine());
    assert.equal(guardReason(xml), 'not-exactly-one-assertion');
    assert.match(await nodeSamlAlone(xml, false), /multiple assertions/);
  });

  it('encodeUtf16 produces UTF-16LE bytes that declare UTF-16, with or without a BOM', () => {
    const xml = genuine();
    const withBom = Buffer.from(encodeUtf16(xml, true), 'base64');
    assert.deepEqual([...withBom.subarray(0, 2)], [0xff, 0xfe]);
    assert.match(withBom.subarray(2).toString('utf16le'), /^<\?xml version="1.0" encoding="UTF-16"\?><samlp:Response/);
    const without = Buffer.from(encodeUtf16(xml, false), 'base64');
    assert.equal(without.length, withBom.length - 2);
  });
});
