import { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import { SignedXml } from 'xml-crypto';
import { fail } from '../errors.js';
import { refuseWeakAlgorithms } from './response-guard.js';
import type { SpKey } from '../config/sp-keys.js';
import { children, descendants, NS, parseStrictXml } from './xml.js';

/** A logout message posted as a form field is a few KiB: more is refused before decoding. */
export const MAX_POSTED_MESSAGE = 64 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Verifies a logout message received with the HTTP-POST binding (SAML bindings 3.5.4: the
 * message itself carries an XML signature) and returns **the signed bytes only** (the
 * referenced element after the enveloped-signature transform): nothing outside the signature
 * is ever read. node-saml's `getVerifiedXml` does the XML-DSig work (one Signature, a direct
 * child of the root, one Reference to the root's unique ID, at most two transforms); before it,
 * the signature and digest algorithms must be SHA-256 or better and the transforms enveloped-
 * signature or canonicalization only.
 * @throws GatehouseError SAML_LOGOUT_FAILED `post-unsigned`, `post-signature-invalid`, ...
 */
export function verifyPosted(field: string, certs: readonly string[]): string {
  if (field.length > MAX_POSTED_MESSAGE) throw fail('SAML_LOGOUT_FAILED', 'post-message-too-large');
  const compact = field.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) throw fail('SAML_LOGOUT_FAILED', 'post-not-base64');
  const xml = Buffer.from(compact, 'base64').toString('utf8');
  if (xml.includes('\uFFFD')) throw fail('SAML_LOGOUT_FAILED', 'post-not-utf8');
  const root = parseStrictXml(xml, 'SAML_LOGOUT_FAILED').documentElement;
  const signatures = children(root, NS.dsig, 'Signature');
  if (signatures.length === 0) throw fail('SAML_LOGOUT_FAILED', 'post-unsigned');
  if (signatures.length > 1 || descendants(root, NS.dsig, 'Signature').length > 1) throw fail('SAML_LOGOUT_FAILED', 'post-several-signatures');
  // The same algorithm and transform allowlists as responses at the ACS (no SHA-1, no XSLT/XPath).
  refuseWeakAlgorithms(root, 'SAML_LOGOUT_FAILED');
  let signed: string | null;
  try {
    signed = getVerifiedXml(xml, root, [...certs]);
  } catch (err) {
    throw fail('SAML_LOGOUT_FAILED', 'post-signature-invalid', err);
  }
  if (!signed) throw fail('SAML_LOGOUT_FAILED', 'post-signature-invalid');
  return signed;
}

/**
 * Signs our own logout message for the HTTP-POST binding: RSA-SHA256, exclusive c14n, the
 * signature placed after Issuer as the schema's sequence requires (SAML core 5.4).
 * @returns base64 of the signed XML, the form field's value
 */
export function signForPost(xml: string, key: SpKey): string {
  const sig = new SignedXml({
    privateKey: key.privateKeyPem,
    publicCert: key.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: '/*',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' } });
  return Buffer.from(sig.getSignedXml(), 'utf8').toString('base64');
}
