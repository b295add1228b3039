import { createVerify, sign, type KeyObject } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { fail } from '../errors.js';

/**
 * The HTTP-Redirect binding (SAML bindings 2.0, section 3.4) for logout messages: DEFLATE,
 * base64, URL-encode; signed over the query `SAMLRequest|SAMLResponse=..&RelayState=..&SigAlg=..`
 * (section 3.4.4.1), verified over the parameters **exactly as received** (never re-encoded:
 * encoders differ in case and in which characters they escape, so a re-encoded string would
 * not be the signed one).
 *
 * Written here rather than taken from node-saml 5.1: its `validateRedirectAsync` accepts a
 * message with no `Signature` at all, accepts SHA-1, finds parameters by a regular expression
 * over the query (a parameter named `xSAMLRequest` matches), and checks neither Destination
 * nor, for a LogoutResponse, that InResponseTo is present.
 */

/** Which message a query carries. */
export type RedirectKind = 'SAMLRequest' | 'SAMLResponse';

/** SigAlg values accepted: RSA or ECDSA with SHA-256 or better (SHA-1: RFC 6194). */
const SIG_ALGS: Record<string, string> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': 'sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384': 'sha384',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512': 'sha512',
};
/** What Gatehouse signs with. */
export const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
/** A logout message is a few KiB; more than this inflated is refused (zip bomb). */
const MAX_INFLATED = 128 * 1024;
const MAX_QUERY = 64 * 1024;

/** A verified Redirect-binding message. */
export interface RedirectMessage {
  kind: RedirectKind;
  xml: string;
  relayState?: string;
}

/**
 * Builds the signed redirect URL for a message (our own XML; the key is the SP signing key).
 * @param location the IdP endpoint (may already carry a query)
 */
export function signedRedirectUrl(location: string, kind: RedirectKind, xml: string, relayState: string | undefined, key: KeyObject): string {
  let query = `${kind}=${encodeURIComponent(deflateRawSync(Buffer.from(xml, 'utf8')).toString('base64'))}`;
  if (relayState !== undefined) query += `&RelayState=${encodeURIComponent(relayState)}`;
  query += `&SigAlg=${encodeURIComponent(RSA_SHA256)}`;
  const signature = sign('sha256', Buffer.from(query, 'utf8'), key).toString('base64');
  return `${location}${location.includes('?') ? '&' : '?'}${query}&Signature=${encodeURIComponent(signature)}`;
}

/**
 * Verifies a received query against the IdP's signing keys (parsed once with its metadata) and
 * returns the message.
 * Unsigned, duplicated parameters, an unknown or weak SigAlg, or a signature no certificate
 * verifies: refused with SAML_LOGOUT_FAILED and a reason.
 * @param rawQuery the query string as received, without the leading `?`
 */
export function verifyRedirect(rawQuery: string, keys: readonly KeyObject[]): RedirectMessage {
  if (rawQuery.length > MAX_QUERY) throw fail('SAML_LOGOUT_FAILED', 'redirect-query-too-large');
  const raw = rawParams(rawQuery);
  const request = raw.get('SAMLRequest');
  const response = raw.get('SAMLResponse');
  if ((request === undefined) === (response === undefined)) throw fail('SAML_LOGOUT_FAILED', 'redirect-not-one-message');
  const kind: RedirectKind = request !== undefined ? 'SAMLRequest' : 'SAMLResponse';
  const sigAlgRaw = raw.get('SigAlg');
  const signatureRaw = raw.get('Signature');
  if (sigAlgRaw === undefined || signatureRaw === undefined) throw fail('SAML_LOGOUT_FAILED', 'redirect-unsigned');
  const hash = SIG_ALGS[decode(sigAlgRaw)];
  if (!hash) throw fail('SAML_LOGOUT_FAILED', 'redirect-weak-or-unknown-sig-alg');
  const relayRaw = raw.get('RelayState');
  // Section 3.4.4.1: the signed octets, in this order, from the values as they were received.
  let signed = `${kind}=${request ?? response}`;
  if (relayRaw !== undefined) signed += `&RelayState=${relayRaw}`;
  signed += `&SigAlg=${sigAlgRaw}`;
  const signature = Buffer.from(decode(signatureRaw), 'base64');
  if (!keys.some((key) => verifyWith(hash, signed, signature, key))) throw fail('SAML_LOGOUT_FAILED', 'redirect-signature-invalid');
  return { kind, xml: inflate(decode(request ?? response!)), ...(relayRaw !== undefined ? { relayState: decode(relayRaw) } : {}) };
}

/** Splits a query into raw (still encoded) values; a repeated binding parameter is refused. */
function rawParams(query: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!['SAMLRequest', 'SAMLResponse', 'RelayState', 'SigAlg', 'Signature'].includes(name)) continue;
    if (out.has(name)) throw fail('SAML_LOGOUT_FAILED', 'redirect-parameter-repeated');
    out.set(name, eq === -1 ? '' : part.slice(eq + 1));
  }
  return out;
}

function decode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    throw fail('SAML_LOGOUT_FAILED', 'redirect-bad-encoding');
  }
}

function verifyWith(hash: string, signed: string, signature: Buffer, key: KeyObject): boolean {
  try {
    return createVerify(hash).update(signed, 'utf8').verify(key, signature);
  } catch {
    return false;
  }
}

function inflate(b64: string): string {
  const compact = b64.replace(/[\r\n ]/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw fail('SAML_LOGOUT_FAILED', 'redirect-not-base64');
  let xml: Buffer;
  try {
    xml = inflateRawSync(Buffer.from(compact, 'base64'), { maxOutputLength: MAX_INFLATED });
  } catch (err) {
    throw fail('SAML_LOGOUT_FAILED', 'redirect-not-deflate', err);
  }
  const text = xml.toString('utf8');
  if (text.includes('\uFFFD')) throw fail('SAML_LOGOUT_FAILED', 'redirect-not-utf8');
  return text;
}
