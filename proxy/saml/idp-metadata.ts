import { X509Certificate, type KeyObject } from 'node:crypto';
import { fail } from '../errors.js';
import { readValidity, type MetadataValidity } from './metadata-validity.js';
import { children, descendants, NS, parseStrictXml, textOf } from './xml.js';

/** What Gatehouse takes from an IdP's metadata (SAML metadata 2.0, section 2.4.3). */
export interface IdpMetadata extends MetadataValidity {
  entityId: string;
  /** SingleSignOnService locations by binding short name. */
  sso: { redirect?: string; post?: string };
  slo: { redirect?: string; post?: string };
  /** Where LogoutResponses go, by binding: ResponseLocation when given, else Location (metadata 2.2.2). */
  sloResponse?: { redirect?: string; post?: string };
  /** Every signing certificate as PEM; several at once during a rollover. */
  signingCerts: string[];
  /** notAfter of each signing certificate (epoch ms, same order), for expiry warnings. */
  certsExpireAt: number[];
  /** SHA-256 fingerprint of each signing certificate (`AA:BB:..`, same order). */
  certFingerprints: string[];
  /** The signing certificates' public keys, parsed once here (Redirect-binding signatures use them). */
  signingKeys: KeyObject[];
}

const BINDINGS = {
  'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect': 'redirect',
  'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST': 'post',
} as const;

/**
 * Parses IdP metadata. Exactly one IdP entity must be present; certificates must parse as X.509;
 * an SSO endpoint with the HTTP-Redirect binding is required (Gatehouse sends requests that way).
 * `validUntil` / `cacheDuration` are read but not enforced here (the caller knows the time).
 * @throws GatehouseError BAD_REQUEST with a reason naming what is missing
 */
export function parseIdpMetadata(xml: string): IdpMetadata {
  const doc = parseStrictXml(xml, 'BAD_REQUEST');
  const entity = pickEntity(doc.documentElement);
  const idp = children(entity, NS.metadata, 'IDPSSODescriptor')[0];
  if (!idp) throw fail('BAD_REQUEST', 'metadata-no-idp-descriptor');
  const entityId = entity.getAttribute('entityID');
  if (!entityId) throw fail('BAD_REQUEST', 'metadata-no-entity-id');
  const signingCerts = signingCertificates(idp);
  if (signingCerts.length === 0) throw fail('BAD_REQUEST', 'metadata-no-signing-certificate');
  const sso = endpoints(idp, 'SingleSignOnService');
  if (!sso.redirect) throw fail('BAD_REQUEST', 'metadata-no-redirect-sso');
  return {
    entityId,
    sso,
    slo: endpoints(idp, 'SingleLogoutService'),
    sloResponse: endpoints(idp, 'SingleLogoutService', true),
    signingCerts: signingCerts.map((c) => c.toString()),
    certsExpireAt: signingCerts.map((c) => Date.parse(c.validTo)),
    certFingerprints: signingCerts.map((c) => c.fingerprint256),
    signingKeys: signingCerts.map((c) => c.publicKey),
    ...readValidity([idp, ...ancestors(idp)]),
  };
}

/** Every element above `el`, nearest first. */
function ancestors(el: Element): Element[] {
  const out: Element[] = [];
  for (let p = el.parentNode; p && p.nodeType === 1; p = p.parentNode) out.push(p as Element);
  return out;
}

function pickEntity(root: Element): Element {
  if (root.localName === 'EntityDescriptor' && root.namespaceURI === NS.metadata) return root;
  if (root.localName === 'EntitiesDescriptor' && root.namespaceURI === NS.metadata) {
    const idps = descendants(root, NS.metadata, 'EntityDescriptor').filter(
      (e) => children(e, NS.metadata, 'IDPSSODescriptor').length > 0,
    );
    if (idps.length === 1) return idps[0]!;
    throw fail('BAD_REQUEST', 'metadata-not-exactly-one-idp');
  }
  throw fail('BAD_REQUEST', 'metadata-not-entity-descriptor');
}

function signingCertificates(idp: Element): X509Certificate[] {
  const certs: X509Certificate[] = [];
  for (const kd of children(idp, NS.metadata, 'KeyDescriptor')) {
    const use = kd.getAttribute('use');
    if (use && use !== 'signing') continue;
    for (const el of descendants(kd, NS.dsig, 'X509Certificate')) {
      const b64 = textOf(el)?.replace(/\s+/g, '');
      if (!b64) continue;
      try {
        certs.push(new X509Certificate(Buffer.from(b64, 'base64')));
      } catch (err) {
        throw fail('BAD_REQUEST', 'metadata-bad-certificate', err);
      }
    }
  }
  const seen = new Set<string>();
  return certs.filter((c) => !seen.has(c.fingerprint256) && seen.add(c.fingerprint256));
}

function endpoints(idp: Element, name: string, responses = false): { redirect?: string; post?: string } {
  const out: { redirect?: string; post?: string } = {};
  for (const el of children(idp, NS.metadata, name)) {
    const kind = BINDINGS[el.getAttribute('Binding') as keyof typeof BINDINGS];
    const location = (responses && el.getAttribute('ResponseLocation')) || el.getAttribute('Location');
    if (kind && location && !out[kind]) out[kind] = location;
  }
  return out;
}
