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
 * anywhere in the document (in any namespace; an encrypted one beside a plain one is two), an ID
 * value used twice, weak signature or digest algorithms, transforms other than
 * enveloped-signature and canonicalization, and an encoding other than UTF-8.
 * @throws GatehouseError SAML_LOGIN_FAILED with a precise reason
 */
export function inspectResponse(samlResponse: string, maxBytes: number): ResponseEnvelope {
  if (samlResponse.length > maxBytes) throw fail('SAML_LOGIN_FAILED', 'saml-response-too-large');
  // IdPs may wrap base64 at 64 or 76 columns: drop line breaks, then check the alphabet.
  const compact = samlResponse.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) throw fail('SAML_LOGIN_FAILED', 'saml-response-not-base64');
  const xml = decodeUtf8(Buffer.from(compact, 'base64'));
  const doc = parseStrictXml(xml);
  const response = doc.documentElement;
  if (response.localName !== 'Response' || response.namespaceURI !== NS.protocol) {
    throw fail('SAML_LOGIN_FAILED', 'not-a-saml-response');
  }
  const { assertions, duplicateId } = inspectNodes(response);
  refuseWeakAlgorithms(response);
  // Status first (core 3.2.2.2): an IdP's refusal usually carries no assertion, and the log
  // should say what the IdP said rather than that the assertion is missing.
  checkStatus(response);
  const direct = children(response, NS.assertion, 'Assertion');
  const encrypted = children(response, NS.assertion, 'EncryptedAssertion');
  // Counted by local name in every namespace, encrypted or not (XSW, namespace confusion, and a
  // plain Assertion beside an EncryptedAssertion): node-saml and other readers match local names.
  if (assertions !== 1 || direct.length + encrypted.length !== 1) throw fail('SAML_LOGIN_FAILED', 'not-exactly-one-assertion');
  if (duplicateId) throw fail('SAML_LOGIN_FAILED', 'duplicate-id');
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

/** `encoding="…"` in the XML declaration (XML 1.0, section 4.3.3). */
const ENCODING_DECL = /^\uFEFF?<\?xml[^>]*?\sencoding\s*=\s*["']([^"']*)["']/;

/**
 * SAML bindings 3.5.4 carry the XML as bytes; we read them as UTF-8 only. A document declaring
 * another encoding (UTF-16, ISO-8859-1...) would be read one way here and another way by a reader
 * that honours the declaration; NUL is not an XML character and is how UTF-16 without a BOM
 * looks when read as UTF-8.
 */
function decodeUtf8(bytes: Buffer): string {
  const xml = bytes.toString('utf8');
  if (xml.includes('\uFFFD') || xml.includes('\u0000')) throw fail('SAML_LOGIN_FAILED', 'saml-response-not-utf8');
  const declared = ENCODING_DECL.exec(xml)?.[1];
  if (declared !== undefined && !/^utf-?8$/i.test(declared)) throw fail('SAML_LOGIN_FAILED', 'xml-encoding-not-utf8');
  return xml;
}

/**
 * The same checks on a decrypted assertion (its plaintext is as untrusted as the response: anyone
 * can encrypt to our public key). @returns the assertion's ID
 */
export function inspectDecryptedAssertion(xml: string): string {
  const assertion = parseStrictXml(xml).documentElement;
  if (assertion.localName !== 'Assertion' || assertion.namespaceURI !== NS.assertion) throw fail('SAML_LOGIN_FAILED', 'decrypted-content-not-assertion');
  // The assertion itself is the one Assertion allowed: none nested, no ID used twice.
  const { assertions, duplicateId } = inspectNodes(assertion);
  refuseWeakAlgorithms(assertion);
  if (assertions !== 1) throw fail('SAML_LOGIN_FAILED', 'not-exactly-one-assertion');
  if (duplicateId) throw fail('SAML_LOGIN_FAILED', 'duplicate-id');
  return assertion.getAttribute('ID') || '';
}

/** IDs as XML-DSig resolves them (xml-crypto looks at `ID`, `Id` and `id`). */
const ID_ATTRIBUTES = ['ID', 'Id', 'id'] as const;

/**
 * One pass over every node: refuses comments and PIs, which can split text nodes so that c14n
 * and the attribute reader disagree (CVE-2017-11428 family), and an ID value carried by two
 * elements (a Reference must name one element; reported after the assertion count, so that a
 * copied assertion reads as the XSW it is); counts Assertion and EncryptedAssertion elements by
 * local name in any namespace.
 */
function inspectNodes(root: Element): { assertions: number; duplicateId: boolean } {
  const ids = new Set<string>();
  let assertions = 0;
  let duplicateId = false;
  const visit = (n: Node) => {
    if (n.nodeType === 8) throw fail('SAML_LOGIN_FAILED', 'xml-comment-present');
    if (n.nodeType === 7) throw fail('SAML_LOGIN_FAILED', 'xml-processing-instruction-present');
    if (n.nodeType !== 1) return;
    const el = n as Element;
    if (el.localName === 'Assertion' || el.localName === 'EncryptedAssertion') assertions++;
    for (const name of ID_ATTRIBUTES) {
      const id = el.getAttribute(name);
      if (!id) continue;
      if (ids.has(id)) duplicateId = true;
      ids.add(id);
    }
  };
  visit(root);
  walk(root, visit);
  return { assertions, duplicateId };
}

/**
 * Transforms a SAML signature may use (SAML core 5.4.4: enveloped signature and canonicalization
 * only). Anything else (XSLT, XPath, base64...) would be run by a verifier before the signature
 * is known to be good: XSLT denial of service and worse.
 */
export const TRANSFORM_ALGORITHMS = new Set([
  'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/2001/10/xml-exc-c14n#WithComments',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments',
]);

export function refuseWeakAlgorithms(root: Element, code: 'SAML_LOGIN_FAILED' | 'SAML_LOGOUT_FAILED' = 'SAML_LOGIN_FAILED'): void {
  for (const t of descendants(root, NS.dsig, 'Transform')) {
    if (!TRANSFORM_ALGORITHMS.has(t.getAttribute('Algorithm') ?? '')) throw fail(code, 'signature-transform-not-allowed');
  }
  for (const m of descendants(root, NS.dsig, 'SignatureMethod')) {
    if (!SIGNATURE_ALGORITHMS.has(m.getAttribute('Algorithm') ?? '')) throw fail(code, 'weak-signature-algorithm');
  }
  for (const m of descendants(root, NS.dsig, 'DigestMethod')) {
    // RSA-OAEP's digest (xmlenc-core 5.4.2) is checked with the encryption algorithms.
    const parent = m.parentNode as Element | null;
    if (parent?.namespaceURI === NS.xenc && parent.localName === 'EncryptionMethod') continue;
    if (!DIGEST_ALGORITHMS.has(m.getAttribute('Algorithm') ?? '')) throw fail(code, 'weak-digest-algorithm');
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
