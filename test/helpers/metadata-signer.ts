/**
 * Test-only IdP metadata: builds an EntityDescriptor (with ID, validUntil, cacheDuration when
 * asked) and signs it the way IdPs and federations do (enveloped signature, exclusive c14n,
 * Signature first in the root). Independent of Gatehouse's own verification code.
 */
import { SignedXml } from 'xml-crypto';
import { IDP_KEYS } from './test-keys.js';

export interface MetadataOptions {
  entityId: string;
  ssoUrl: string;
  certBase64s: string[];
  /** Root ID attribute. Default `_md1`. */
  id?: string;
  validUntil?: string;
  cacheDuration?: string;
}

/** An unsigned IdP EntityDescriptor. */
export function metadataXml(o: MetadataOptions): string {
  const keys = o.certBase64s
    .map((c) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  const attrs = [o.validUntil ? ` validUntil="${o.validUntil}"` : '', o.cacheDuration ? ` cacheDuration="${o.cacheDuration}"` : ''].join('');
  return (
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" ID="${o.id ?? '_md1'}" entityID="${o.entityId}"${attrs}>` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${o.ssoUrl}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}

export interface SignOptions {
  keys?: { privateKeyPem: string; certPem: string };
  /** Default sha256 for both. */
  signatureAlgorithm?: 'sha1' | 'sha256' | 'sha512';
  digestAlgorithm?: 'sha1' | 'sha256' | 'sha512';
  /** Element to sign. Default the root (`/*`). */
  xpath?: string;
  /** Reference with URI="" (the whole document) instead of `#ID`. */
  emptyUri?: boolean;
  /** Put the certificate in KeyInfo. Default true. */
  includeKeyInfo?: boolean;
}

const SIG = { sha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', sha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', sha512: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512' };
const DIGEST = { sha1: 'http://www.w3.org/2000/09/xmldsig#sha1', sha256: 'http://www.w3.org/2001/04/xmlenc#sha256', sha512: 'http://www.w3.org/2001/04/xmlenc#sha512' };

/** Signs `xml` with an enveloped signature placed first inside the signed element. */
export function signMetadata(xml: string, o: SignOptions = {}): string {
  const keys = o.keys ?? IDP_KEYS;
  const xpath = o.xpath ?? '/*';
  const sig = new SignedXml({
    privateKey: keys.privateKeyPem,
    publicCert: (o.includeKeyInfo ?? true) ? keys.certPem : undefined,
    signatureAlgorithm: SIG[o.signatureAlgorithm ?? 'sha256'],
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: DIGEST[o.digestAlgorithm ?? 'sha256'],
    ...(o.emptyUri ? { isEmptyUri: true } : {}),
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: xpath, action: 'prepend' } });
  return sig.getSignedXml();
}
