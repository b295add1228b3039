import { dataAlgorithms, KEY_TRANSPORT_ALGORITHMS, type EncryptionPolicy } from './encrypted-assertion.js';
import type { SpKey } from '../config/sp-keys.js';

/** What one connection's SP metadata says. */
export interface SpMetadataInput {
  entityId: string;
  acsUrl: string;
  sloUrl: string;
  /** Whether the connection serves Single Logout (`single_logout` is not false; needs keys too). */
  singleLogout: boolean;
  /** Gatehouse's keys, signing key first (none: no KeyDescriptor, no SLO endpoint). */
  keys: readonly SpKey[];
  signRequests: boolean;
  encryption: EncryptionPolicy;
}

const BINDING = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
} as const;

/**
 * SP metadata (SAML metadata 2.0, section 2.4.4), written by us rather than node-saml so that
 * every key is listed for each use (two during a rollover) and the encryption KeyDescriptors name
 * the algorithms we accept (section 2.4.1.1, EncryptionMethod): an IdP that reads them picks one
 * we decrypt. Elements follow the schema's sequence: KeyDescriptor*, SingleLogoutService*,
 * AssertionConsumerService+.
 */
export function buildSpMetadata(m: SpMetadataInput): string {
  const methods = [...dataAlgorithms(m.encryption), ...KEY_TRANSPORT_ALGORITHMS]
    .map((a) => `<md:EncryptionMethod Algorithm="${esc(a)}"/>`)
    .join('');
  const keys = [
    ...m.keys.map((k) => keyDescriptor('signing', k, '')),
    ...m.keys.map((k) => keyDescriptor('encryption', k, methods)),
  ].join('');
  // Logout messages must be signed both ways, so the endpoint is only offered with keys, and never
  // for a connection whose endpoint refuses everything (`single_logout: false`).
  const slo = m.keys.length === 0 || !m.singleLogout ? '' : [BINDING.redirect, BINDING.post].map((b) => `<md:SingleLogoutService Binding="${b}" Location="${esc(m.sloUrl)}"/>`).join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${esc(m.entityId)}">` +
    `<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" AuthnRequestsSigned="${m.signRequests}" WantAssertionsSigned="true">` +
    keys +
    slo +
    `<md:AssertionConsumerService Binding="${BINDING.post}" Location="${esc(m.acsUrl)}" index="1" isDefault="true"/>` +
    '</md:SPSSODescriptor></md:EntityDescriptor>'
  );
}

function keyDescriptor(use: 'signing' | 'encryption', key: SpKey, inner: string): string {
  return `<md:KeyDescriptor use="${use}"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${key.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>${inner}</md:KeyDescriptor>`;
}

function esc(v: string): string {
  return v.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}
