import { inflateRawSync } from 'node:zlib';
import { isGatehouseError } from '../errors.js';
import { children, descendants, NS, parseStrictXml, textOf } from '../saml/xml.js';
import type { AuditClaims } from './saml-audit-types.js';

const MAX_TEXT = 256;
const MAX_ATTRIBUTES = 32;
const MAX_VALUES = 32;
/** Above this the claims lose their `attributes` (the named fields stay). */
const MAX_CLAIMS_JSON = 8_192;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Attribute names that carry an email at common IdPs, tried after the connection's own. */
const EMAIL_ATTRIBUTES = ['email', 'mail', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'];
const GROUP_ATTRIBUTES = ['groups', 'memberOf', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups'];

/** A message decoded for the audit: text (possibly not XML), its full size, and why it is not XML. */
export interface DecodedMessage {
  text: string;
  bytes: number;
  error?: 'not-base64' | 'not-deflate' | 'too-large';
}

/**
 * Decodes a message as received, bounded: `post` is base64 (bindings 3.5.4), `redirect` base64 of
 * raw DEFLATE (bindings 3.4.4.1), inflated to at most `maxBytes`. Input that does not decode is
 * kept as received (the caller cuts it), so garbage is recorded too.
 */
export function decodeMessage(value: string, binding: 'post' | 'redirect', maxBytes: number): DecodedMessage {
  const compact = value.replace(/[\r\n]/g, '');
  if (!BASE64.test(compact)) return { text: value, bytes: Buffer.byteLength(value), error: 'not-base64' };
  const raw = Buffer.from(compact, 'base64');
  if (binding === 'post') return { text: raw.toString('utf8'), bytes: raw.length };
  try {
    const xml = inflateRawSync(raw, { maxOutputLength: maxBytes });
    return { text: xml.toString('utf8'), bytes: xml.length };
  } catch (err) {
    const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    return { text: value, bytes: Buffer.byteLength(value), error: tooLarge ? 'too-large' : 'not-deflate' };
  }
}

/** Cuts text to at most `maxBytes` of UTF-8 without splitting a character. */
export function cutUtf8(text: string, maxBytes: number): { text: string; cut: boolean } {
  if (text.length <= maxBytes / 3 || Buffer.byteLength(text) <= maxBytes) return { text, cut: false };
  const buf = Buffer.from(text, 'utf8').subarray(0, maxBytes);
  let end = buf.length;
  // Step back over a partial multi-byte sequence (continuation bytes are 10xxxxxx).
  let i = end - 1;
  while (i >= 0 && (buf[i]! & 0xc0) === 0x80) i--;
  if (i >= 0) {
    const lead = buf[i]!;
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (end - i < need) end = i;
  }
  return { text: buf.subarray(0, end).toString('utf8'), cut: true };
}

/**
 * Reads what a SAML message says, without verifying anything: the caller marks these claims
 * unverified. Parsed with the same strict parser as the ACS (no DTD, bounded depth), so hostile
 * input costs no more here than there; any parse problem yields `{ error }` and no claims.
 * @param names the connection's attribute names for email and groups, tried first
 */
export function extractClaims(xml: string, names: { email?: string; groups?: string } = {}): { claims: AuditClaims; error?: string } {
  let doc: Document;
  try {
    doc = parseStrictXml(xml);
  } catch (err) {
    return { claims: {}, error: isGatehouseError(err) ? err.reason : 'xml-malformed' };
  }
  const root = doc.documentElement;
  const claims: AuditClaims = {};
  const set = <K extends keyof AuditClaims>(key: K, value: string | null | undefined) => {
    if (value) (claims as Record<string, unknown>)[key] = cap(value);
  };
  set('message_id', root.getAttribute('ID'));
  set('in_response_to', root.getAttribute('InResponseTo'));
  set('destination', root.getAttribute('Destination'));
  set('issuer', textOf(children(root, NS.assertion, 'Issuer')[0]));
  const status = children(root, NS.protocol, 'Status')[0];
  const top = status && children(status, NS.protocol, 'StatusCode')[0];
  const second = top && children(top, NS.protocol, 'StatusCode')[0];
  set('status', [top?.getAttribute('Value'), second?.getAttribute('Value')].filter(Boolean).join(' '));
  if (descendants(root, NS.assertion, 'EncryptedAssertion').length > 0) claims.encrypted = true;
  const assertion = descendants(root, NS.assertion, 'Assertion')[0];
  if (assertion) readAssertion(assertion, claims, names);
  if (root.localName === 'LogoutRequest') {
    const nameId = children(root, NS.assertion, 'NameID')[0];
    set('name_id', textOf(nameId));
    set('name_id_format', nameId?.getAttribute('Format'));
    set('session_index', textOf(children(root, NS.protocol, 'SessionIndex')[0]));
  }
  if (!claims.email && claims.name_id && /^[^@\s]+@[^@\s]+$/.test(claims.name_id)) claims.email = claims.name_id;
  return { claims: capClaims(claims) };
}

function readAssertion(assertion: Element, claims: AuditClaims, names: { email?: string; groups?: string }): void {
  if (assertion.getAttribute('ID')) claims.assertion_id = cap(assertion.getAttribute('ID')!);
  claims.issuer ??= opt(textOf(children(assertion, NS.assertion, 'Issuer')[0]));
  const nameId = descendants(assertion, NS.assertion, 'NameID')[0];
  if (textOf(nameId)) claims.name_id = cap(textOf(nameId)!);
  if (nameId?.getAttribute('Format')) claims.name_id_format = cap(nameId.getAttribute('Format')!);
  const authn = descendants(assertion, NS.assertion, 'AuthnStatement')[0];
  if (authn?.getAttribute('SessionIndex')) claims.session_index = cap(authn.getAttribute('SessionIndex')!);
  const ref = textOf(descendants(assertion, NS.assertion, 'AuthnContextClassRef')[0]);
  if (ref) claims.authn_context = cap(ref);
  const attributes: Record<string, string[]> = {};
  for (const a of descendants(assertion, NS.assertion, 'Attribute')) {
    const name = a.getAttribute('Name');
    if (!name || Object.keys(attributes).length >= MAX_ATTRIBUTES) continue;
    const values = descendants(a, NS.assertion, 'AttributeValue').slice(0, MAX_VALUES).map((v) => cap(v.textContent ?? ''));
    attributes[cap(name)] = [...(attributes[cap(name)] ?? []), ...values].slice(0, MAX_VALUES);
  }
  if (Object.keys(attributes).length > 0) claims.attributes = attributes;
  const first = (list: string[]) => list.map((n) => attributes[n]).find((v) => v && v.length > 0);
  const email = first([names.email, ...EMAIL_ATTRIBUTES].filter((n): n is string => !!n));
  if (email?.[0]) claims.email = email[0];
  const groups = first([names.groups, ...GROUP_ATTRIBUTES].filter((n): n is string => !!n));
  if (groups) claims.groups = groups;
}

/** Caps every field so one entry stays small, whatever the sender wrote. */
export function capClaims(claims: AuditClaims): AuditClaims {
  const out: AuditClaims = {};
  for (const [k, v] of Object.entries(claims) as [keyof AuditClaims, unknown][]) {
    if (typeof v === 'string') (out as Record<string, unknown>)[k] = cap(v);
    else if (typeof v === 'boolean') (out as Record<string, unknown>)[k] = v;
    else if (Array.isArray(v)) (out as Record<string, unknown>)[k] = v.slice(0, MAX_VALUES * 4).map((s) => cap(String(s)));
    else if (k === 'attributes' && v && typeof v === 'object') out.attributes = v as Record<string, string[]>;
  }
  if (out.attributes && JSON.stringify(out).length > MAX_CLAIMS_JSON) delete out.attributes;
  if (out.groups && JSON.stringify(out).length > MAX_CLAIMS_JSON) out.groups = out.groups.slice(0, 16);
  return out;
}

function cap(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

function opt(text: string | undefined): string | undefined {
  return text === undefined ? undefined : cap(text);
}
