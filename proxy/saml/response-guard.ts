import { fail } from '../errors.js';
import { children, descendants, NS, onlyChild, parseStrictXml, textOf, walk } from './xml.js';

/** What the unverified envelope says; every field is re-checked against the signed assertion. */
export interface ResponseEnvelope {
  xml: string;
  responseSigned: boolean;
  inResponseTo?: string;
  destination?: string;
  issuer?: string;
  /** ID of the one Assertion in the document ('' while it is encrypted: set once decrypted). */
  assertionId: string;
  /** The one EncryptedAssertion, when the assertion came encrypted (SAML core 2.3.4). */
  encryptedAssertion?: Element;
}

/** Linear-time check (no nested quantifiers over the same characters: no ReDoS). */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** XML-DSig algorithms accepted: SHA-256 or better (SHA-1 is broken for signatures, RFC 6194). */
export const SIGNATURE_ALGORITHMS = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512',
]);
export const DIGEST_ALGORITHMS = new Set([
  'http://www.w3.org/2001/04/xmlenc#sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512',
]);

/**
 * Decodes and inspects a SAMLResponse before any signature work, refusing shapes no honest IdP
 * sends and that signature-wrapping and parser-differential attacks need:
 * DTDs, comments and processing instructions, more than one Assertion or EncryptedAssertion
 * anywhere in the document (together: an encrypted one beside a plain one is two), weak
 * signature or digest algorithms.
 * @throws GatehouseError SAML_LOGIN_FAILED with a precise reason
 */
export function inspectResponse(samlResponse: string, maxBytes: number): ResponseEnvelope {
  if (samlResponse.length > maxBytes) throw fail('SAML_LOGIN_FAILED', 'saml-response-too-large');
  // IdPs may wrap base64 at 64 or 76 columns: drop line breaks, then check the alphabet.
  const compact = samlResponse.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) throw fail('SAML_LOGIN_FAILED', 'saml-response-not-base64');
  const xml = Buffer.from(compact, 'base64').toString('utf8');
  if (xml.includes('\uFFFD')) throw fail('SAML_LOGIN_FAILED', 'saml-response-not-utf8');
  const doc = parseStrictXml(xml);
  const response = doc.documentElement;
  if (response.localName !== 'Response' || response.namespaceURI !== NS.protocol) {
    throw fail('SAML_LOGIN_FAILED', 'not-a-saml-response');
  }
  refuseHiddenNodes(response);
  refuseWeakAlgorithms(response);
  const all = descendants(doc, NS.assertion, 'Assertion').length + descendants(doc, NS.assertion, 'EncryptedAssertion').length;
  const direct = children(response, NS.assertion, 'Assertion');
  const encrypted = children(response, NS.assertion, 'EncryptedAssertion');
  if (all !== 1 || direct.length + encrypted.length !== 1) throw fail('SAML_LOGIN_FAILED', 'not-exactly-one-assertion');
  checkStatus(response);
  return {
    xml,
    responseSigned: children(response, NS.dsig, 'Signature').length > 0,
    inResponseTo: response.getAttribute('InResponseTo') || undefined,
    destination: response.getAttribute('Destination') || undefined,
    issuer: textOf(onlyChild(response, NS.assertion, 'Issuer', 'duplicate-issuer')),
    assertionId: direct[0]?.getAttribute('ID') || '',
    encryptedAssertion: encrypted[0],
  };
}

/**
 * The same checks on a decrypted assertion (its plaintext is as untrusted as the response: anyone
 * can encrypt to our public key). @returns the assertion's ID
 */
export function inspectDecryptedAssertion(xml: string): string {
  const assertion = parseStrictXml(xml).documentElement;
  if (assertion.localName !== 'Assertion' || assertion.namespaceURI !== NS.assertion) throw fail('SAML_LOGIN_FAILED', 'decrypted-content-not-assertion');
  refuseHiddenNodes(assertion);
  refuseWeakAlgorithms(assertion);
  if (descendants(assertion, NS.assertion, 'Assertion').length + descendants(assertion, NS.assertion, 'EncryptedAssertion').length > 0) {
    throw fail('SAML_LOGIN_FAILED', 'not-exactly-one-assertion');
  }
  return assertion.getAttribute('ID') || '';
}

/** Comments and PIs can split text nodes so that c14n and the attribute reader disagree (CVE-2017-11428 family). */
function refuseHiddenNodes(root: Element): void {
  walk(root, (n) => {
    if (n.nodeType === 8) throw fail('SAML_LOGIN_FAILED', 'xml-comment-present');
    if (n.nodeType === 7) throw fail('SAML_LOGIN_FAILED', 'xml-processing-instruction-present');
  });
}

function refuseWeakAlgorithms(root: Element): void {
  for (const m of descendants(root, NS.dsig, 'SignatureMethod')) {
    if (!SIGNATURE_ALGORITHMS.has(m.getAttribute('Algorithm') ?? '')) throw fail('SAML_LOGIN_FAILED', 'weak-signature-algorithm');
  }
  for (const m of descendants(root, NS.dsig, 'DigestMethod')) {
    // RSA-OAEP's digest (xmlenc-core 5.4.2) is checked with the encryption algorithms.
    const parent = m.parentNode as Element | null;
    if (parent?.namespaceURI === NS.xenc && parent.localName === 'EncryptionMethod') continue;
    if (!DIGEST_ALGORITHMS.has(m.getAttribute('Algorithm') ?? '')) throw fail('SAML_LOGIN_FAILED', 'weak-digest-algorithm');
  }
}

/** SAML core 3.2.2.2: only top-level `Success` means an assertion may be used. */
function checkStatus(response: Element): void {
  const status = onlyChild(response, NS.protocol, 'Status', 'duplicate-status');
  const code = status && onlyChild(status, NS.protocol, 'StatusCode', 'duplicate-status-code');
  if (code?.getAttribute('Value') !== 'urn:oasis:names:tc:SAML:2.0:status:Success') {
    throw fail('SAML_LOGIN_FAILED', 'status-not-success');
  }
}
