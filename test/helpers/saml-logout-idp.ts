/**
 * The IdP side of SAML Single Logout, for tests: builds LogoutRequests and LogoutResponses as an
 * IdP would, signs them for the HTTP-Redirect binding (own DEFLATE + query signature, written
 * apart from Gatehouse's code so the two cannot share a bug) or the HTTP-POST binding
 * (xml-crypto), and reads and verifies what Gatehouse sends back.
 */
import { createPrivateKey, createVerify, randomBytes, sign, X509Certificate } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { escapeXml } from './saml-idp-signer.js';
import { IDP_KEYS, type TestKeyPair } from './test-keys.js';

const PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const SIG_ALG = { sha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', sha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256' } as const;
const DIGEST = { sha1: 'http://www.w3.org/2000/09/xmldsig#sha1', sha256: 'http://www.w3.org/2001/04/xmlenc#sha256' } as const;
export const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
export const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

const instant = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
export const randomId = () => `_${randomBytes(20).toString('hex')}`;

/** An IdP's LogoutRequest. `null` omits an attribute or element. */
export interface IdpLogoutRequest {
  issuer: string | null;
  destination: string | null;
  nameId: string;
  nameIdFormat?: string;
  spNameQualifier?: string;
  sessionIndexes?: string[];
  id?: string;
  nowMs?: number;
  /** Seconds after now; null omits NotOnOrAfter. Default 300. */
  lifetimeSeconds?: number | null;
}

export function logoutRequestXml(o: IdpLogoutRequest): { id: string; xml: string } {
  const id = o.id ?? randomId();
  const now = o.nowMs ?? Date.now();
  const until = o.lifetimeSeconds === null ? '' : ` NotOnOrAfter="${instant(now + (o.lifetimeSeconds ?? 300) * 1000)}"`;
  const dest = o.destination === null ? '' : ` Destination="${escapeXml(o.destination)}"`;
  const xml =
    `<samlp:LogoutRequest xmlns:samlp="${PROTOCOL}" xmlns:saml="${ASSERTION}" ID="${id}" Version="2.0" IssueInstant="${instant(now)}"${dest}${until}>` +
    (o.issuer === null ? '' : `<saml:Issuer>${escapeXml(o.issuer)}</saml:Issuer>`) +
    `<saml:NameID Format="${o.nameIdFormat ?? EMAIL_FORMAT}"${o.spNameQualifier ? ` SPNameQualifier="${escapeXml(o.spNameQualifier)}"` : ''}>${escapeXml(o.nameId)}</saml:NameID>` +
    (o.sessionIndexes ?? []).map((s) => `<samlp:SessionIndex>${escapeXml(s)}</samlp:SessionIndex>`).join('') +
    `</samlp:LogoutRequest>`;
  return { id, xml };
}

/** An IdP's LogoutResponse to the SP's request. */
export function logoutResponseXml(o: { issuer: string; destination: string | null; inResponseTo: string | null; status?: string; subStatus?: string; nowMs?: number }): string {
  const dest = o.destination === null ? '' : ` Destination="${escapeXml(o.destination)}"`;
  const irt = o.inResponseTo === null ? '' : ` InResponseTo="${escapeXml(o.inResponseTo)}"`;
  return (
    `<samlp:LogoutResponse xmlns:samlp="${PROTOCOL}" xmlns:saml="${ASSERTION}" ID="${randomId()}" Version="2.0" IssueInstant="${instant(o.nowMs ?? Date.now())}"${dest}${irt}>` +
    `<saml:Issuer>${escapeXml(o.issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="${o.status ?? SUCCESS}"${o.subStatus ? `><samlp:StatusCode Value="${o.subStatus}"/></samlp:StatusCode>` : '/>'}</samlp:Status></samlp:LogoutResponse>`
  );
}

/**
 * The HTTP-Redirect binding query (SAML bindings 3.4.4.1): `param=..&RelayState=..&SigAlg=..&Signature=..`.
 * `keys: null` sends it unsigned.
 */
export function redirectQuery(param: 'SAMLRequest' | 'SAMLResponse', xml: string, o: { relayState?: string; keys?: TestKeyPair | null; alg?: 'sha1' | 'sha256' } = {}): string {
  let q = `${param}=${encodeURIComponent(deflateRawSync(Buffer.from(xml)).toString('base64'))}`;
  if (o.relayState !== undefined) q += `&RelayState=${encodeURIComponent(o.relayState)}`;
  const keys = o.keys === undefined ? IDP_KEYS : o.keys;
  if (keys === null) return q;
  const alg = o.alg ?? 'sha256';
  q += `&SigAlg=${encodeURIComponent(SIG_ALG[alg])}`;
  const sig = sign(alg, Buffer.from(q), createPrivateKey(keys.privateKeyPem)).toString('base64');
  return `${q}&Signature=${encodeURIComponent(sig)}`;
}

/** Base64 of the message with an enveloped XML signature after Issuer (keys null: unsigned). */
export function postField(xml: string, o: { keys?: TestKeyPair | null; alg?: 'sha1' | 'sha256' } = {}): string {
  const keys = o.keys === undefined ? IDP_KEYS : o.keys;
  if (keys === null) return Buffer.from(xml).toString('base64');
  const alg = o.alg ?? 'sha256';
  const sig = new SignedXml({ privateKey: keys.privateKeyPem, publicCert: keys.certPem, signatureAlgorithm: SIG_ALG[alg], canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  sig.addReference({ xpath: '/*', transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: DIGEST[alg] });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: "/*/*[local-name(.)='Issuer']", action: 'after' } });
  return Buffer.from(sig.getSignedXml()).toString('base64');
}

/** A redirect URL Gatehouse sent, decoded; `signatureValid` checks its query signature with `certPem`. */
export function readRedirect(url: string, certPem: string): { xml: string; relayState?: string; sigAlg?: string; signatureValid: boolean; location: string } {
  const u = new URL(url);
  const raw = u.search.slice(1).split('&');
  const get = (n: string) => raw.find((p) => p.startsWith(`${n}=`))?.slice(n.length + 1);
  const param = get('SAMLRequest') !== undefined ? 'SAMLRequest' : 'SAMLResponse';
  const signed = [`${param}=${get(param)}`, ...(get('RelayState') !== undefined ? [`RelayState=${get('RelayState')}`] : []), `SigAlg=${get('SigAlg')}`].join('&');
  const signature = get('Signature');
  const signatureValid = signature !== undefined && createVerify('sha256').update(signed).verify(new X509Certificate(certPem).publicKey, Buffer.from(decodeURIComponent(signature), 'base64'));
  const relay = get('RelayState');
  return {
    xml: inflateRawSync(Buffer.from(decodeURIComponent(get(param)!), 'base64')).toString('utf8'),
    ...(relay !== undefined ? { relayState: decodeURIComponent(relay) } : {}),
    sigAlg: get('SigAlg') && decodeURIComponent(get('SigAlg')!),
    signatureValid,
    location: `${u.origin}${u.pathname}`,
  };
}

/** Verifies an XML signature Gatehouse made (POST binding) with its certificate. */
export function postSignatureValid(xml: string, certPem: string): boolean {
  const sig = new SignedXml({ publicCert: certPem });
  const node = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(xml);
  if (!node) return false;
  sig.loadSignature(node[0]);
  return sig.checkSignature(xml);
}

/** IdP metadata with SingleLogoutService endpoints (Redirect and POST). */
export function idpMetadataWithSlo(o: { entityId: string; ssoUrl: string; sloUrl?: string; sloResponseUrl?: string; certBase64s: string[] }): string {
  const keys = o.certBase64s.map((c) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`).join('');
  const rl = o.sloResponseUrl ? ` ResponseLocation="${o.sloResponseUrl}"` : '';
  const slo = o.sloUrl
    ? `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${o.sloUrl}"${rl}/>` +
      `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${o.sloUrl}"${rl}/>`
    : '';
  return (
    `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${o.entityId}">` +
    `<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keys}${slo}` +
    `<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${o.ssoUrl}"/>` +
    `</md:IDPSSODescriptor></md:EntityDescriptor>`
  );
}
