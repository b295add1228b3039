import { X509Certificate } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { fail } from '../errors.js';
import { children, descendants, NS, parseStrictXml, textOf } from './xml.js';

/**
 * Who may sign a connection's IdP metadata: the keys of pinned certificates (KeyInfo ignored),
 * or a certificate sent in KeyInfo whose SHA-256 fingerprint is pinned.
 */
export type MetadataSignaturePin = { certs: readonly string[] } | { fingerprints: readonly string[] };

/** rsa-sha256 or stronger (RFC 6931). SHA-1 is refused (RFC 6194); HMAC never (key confusion). */
const SIGNATURE_ALGORITHMS = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
]);
const DIGEST_ALGORITHMS = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', 'http://www.w3.org/2001/04/xmlenc#sha512']);
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Verifies the enveloped XML signature of a metadata document (SAML metadata 2.0 section 3;
 * XML-DSig core 3.2) and returns the XML that signature covers, which the caller must parse
 * instead of `xml`: what was not signed is never read. The signature must be a child of the
 * root element and its one Reference must be the root (`URI=""` or `#<root ID>`): a signed
 * EntityDescriptor inside an unsigned EntitiesDescriptor (wrapping) is refused.
 * @throws GatehouseError BAD_REQUEST `metadata-unsigned`, `metadata-signature-*`, `metadata-signer-not-pinned`
 */
export function verifyMetadataSignature(xml: string, pin: MetadataSignaturePin): string {
  const root = parseStrictXml(xml, 'BAD_REQUEST').documentElement;
  const sigs = children(root, NS.dsig, 'Signature');
  if (sigs.length === 0) throw fail('BAD_REQUEST', 'metadata-unsigned');
  if (sigs.length > 1) throw fail('BAD_REQUEST', 'metadata-signature-ambiguous');
  const sig = sigs[0]!;
  checkSignedInfo(sig, root);
  for (const cert of candidateCerts(sig, pin)) {
    const verifier = new SignedXml({ publicCert: cert, getCertFromKeyInfo: () => null });
    try {
      verifier.loadSignature(sig);
    } catch (err) {
      throw fail('BAD_REQUEST', 'metadata-signature-malformed', err);
    }
    let ok = false;
    try {
      ok = verifier.checkSignature(xml);
    } catch {
      ok = false;
    }
    const signed = ok ? verifier.getSignedReferences() : [];
    if (signed.length === 1) return signed[0]!;
  }
  throw fail('BAD_REQUEST', 'metadata-signature-invalid');
}

/** Algorithms and the one Reference, checked before any cryptography. */
function checkSignedInfo(sig: Element, root: Element): void {
  const info = children(sig, NS.dsig, 'SignedInfo')[0];
  if (!info) throw fail('BAD_REQUEST', 'metadata-signature-malformed');
  const method = children(info, NS.dsig, 'SignatureMethod')[0]?.getAttribute('Algorithm') ?? '';
  if (!SIGNATURE_ALGORITHMS.has(method)) throw fail('BAD_REQUEST', 'metadata-signature-weak-algorithm');
  const refs = children(info, NS.dsig, 'Reference');
  if (refs.length !== 1) throw fail('BAD_REQUEST', 'metadata-signature-not-root');
  const ref = refs[0]!;
  const uri = ref.getAttribute('URI') ?? '';
  const rootId = root.getAttribute('ID');
  if (!(uri === '' || (rootId && uri === `#${rootId}`))) throw fail('BAD_REQUEST', 'metadata-signature-not-root');
  const digest = children(ref, NS.dsig, 'DigestMethod')[0]?.getAttribute('Algorithm') ?? '';
  if (!DIGEST_ALGORITHMS.has(digest)) throw fail('BAD_REQUEST', 'metadata-signature-weak-algorithm');
}

/** The certificates to try: the pinned ones, or those in KeyInfo whose fingerprint is pinned. */
function candidateCerts(sig: Element, pin: MetadataSignaturePin): string[] {
  if ('certs' in pin) return [...pin.certs];
  const wanted = new Set(pin.fingerprints.map(normalizeFingerprint));
  const found: string[] = [];
  for (const keyInfo of children(sig, NS.dsig, 'KeyInfo')) {
    for (const el of descendants(keyInfo, NS.dsig, 'X509Certificate')) {
      const b64 = textOf(el)?.replace(/\s+/g, '') ?? '';
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(Buffer.from(b64, 'base64'));
      } catch {
        continue;
      }
      if (wanted.has(cert.fingerprint256)) found.push(cert.toString());
    }
  }
  if (found.length === 0) throw fail('BAD_REQUEST', 'metadata-signer-not-pinned');
  return found;
}

/** `aa:bb..`, `AABB..` -> `AA:BB:..` (the form Node and `openssl x509 -fingerprint` print). */
function normalizeFingerprint(text: string): string {
  const hex = text.replace(/[:\s]/g, '').toUpperCase();
  return hex.match(/../g)?.join(':') ?? '';
}

/**
 * The certificates of a PEM file (one or several), each as PEM.
 * @throws GatehouseError BAD_REQUEST `metadata-pin-no-certificate` / `metadata-pin-bad-certificate`
 */
export function readPinnedCerts(pem: string): string[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw fail('BAD_REQUEST', 'metadata-pin-no-certificate');
  return blocks.map((b) => {
    try {
      return new X509Certificate(b).toString();
    } catch (err) {
      throw fail('BAD_REQUEST', 'metadata-pin-bad-certificate', err);
    }
  });
}
