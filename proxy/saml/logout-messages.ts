import { randomBytes } from 'node:crypto';
import { fail } from '../errors.js';
import { esc } from './xml-text.js';
import { children, NS, onlyChild, parseStrictXml, textOf, walk } from './xml.js';

/** Status codes of logout answers (SAML core 2.0, section 3.2.2.2). */
export const STATUS = {
  success: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  requester: 'urn:oasis:names:tc:SAML:2.0:status:Requester',
  responder: 'urn:oasis:names:tc:SAML:2.0:status:Responder',
  partialLogout: 'urn:oasis:names:tc:SAML:2.0:status:PartialLogout',
} as const;

/** Who a LogoutRequest names (SAML core 3.7.1): the NameID of the login, and which login. */
export interface LogoutSubject {
  nameId: string;
  nameIdFormat?: string;
  nameQualifier?: string;
  spNameQualifier?: string;
  /** Empty: every session of the NameID. */
  sessionIndexes: string[];
}

/** The fields Gatehouse checks of a received LogoutRequest or LogoutResponse. */
export interface LogoutMessage {
  kind: 'LogoutRequest' | 'LogoutResponse';
  id: string;
  issuer?: string;
  destination?: string;
  issueInstant: number;
  /** LogoutRequest only (section 3.7.1). */
  notOnOrAfter?: number;
  /** LogoutResponse only. */
  inResponseTo?: string;
  status?: string;
  subStatus?: string;
  /** LogoutRequest only; undefined when the NameID is encrypted or missing. */
  subject?: LogoutSubject;
}

/** `_` + 40 hex digits: an xs:ID (NCName) with 160 random bits. */
export function newMessageId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

/** xs:dateTime in UTC, whole seconds. */
export function instant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Our LogoutRequest (section 3.7.1) for one session of ours. */
export function buildLogoutRequest(o: { id: string; issuer: string; destination: string; nowMs: number; lifetimeMs: number; subject: LogoutSubject }): string {
  const s = o.subject;
  const nameIdAttrs = attr('Format', s.nameIdFormat) + attr('NameQualifier', s.nameQualifier) + attr('SPNameQualifier', s.spNameQualifier);
  return (
    `<samlp:LogoutRequest xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${o.id}" Version="2.0" IssueInstant="${instant(o.nowMs)}"` +
    ` Destination="${esc(o.destination)}" NotOnOrAfter="${instant(o.nowMs + o.lifetimeMs)}">` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer><saml:NameID${nameIdAttrs}>${esc(s.nameId)}</saml:NameID>` +
    s.sessionIndexes.map((i) => `<samlp:SessionIndex>${esc(i)}</samlp:SessionIndex>`).join('') +
    `</samlp:LogoutRequest>`
  );
}

/** Our LogoutResponse (section 3.7.2) to an IdP's LogoutRequest. */
export function buildLogoutResponse(o: { id: string; issuer: string; destination: string; nowMs: number; inResponseTo: string; status: string; subStatus?: string }): string {
  const sub = o.subStatus ? `<samlp:StatusCode Value="${o.subStatus}"/>` : '';
  return (
    `<samlp:LogoutResponse xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${o.id}" Version="2.0" IssueInstant="${instant(o.nowMs)}"` +
    ` Destination="${esc(o.destination)}" InResponseTo="${esc(o.inResponseTo)}">` +
    `<saml:Issuer>${esc(o.issuer)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="${o.status}">${sub}</samlp:StatusCode></samlp:Status>` +
    `</samlp:LogoutResponse>`
  );
}

/**
 * Parses a received logout message strictly (no DTD, comments or processing instructions; one
 * Issuer, one NameID, one Status). Only call this on XML whose signature has been verified, or
 * to find out what kind of message a POST carries before verifying it.
 * @throws GatehouseError SAML_LOGOUT_FAILED
 */
export function parseLogoutMessage(xml: string): LogoutMessage {
  const root = parseStrictXml(xml, 'SAML_LOGOUT_FAILED').documentElement;
  walk(root, (n) => {
    if (n.nodeType === 7 || n.nodeType === 8) throw fail('SAML_LOGOUT_FAILED', 'xml-hidden-node-present');
  });
  if (root.namespaceURI !== NS.protocol || (root.localName !== 'LogoutRequest' && root.localName !== 'LogoutResponse')) {
    throw fail('SAML_LOGOUT_FAILED', 'not-a-logout-message');
  }
  const kind = root.localName;
  const id = root.getAttribute('ID');
  if (!id) throw fail('SAML_LOGOUT_FAILED', 'message-without-id');
  if (root.getAttribute('Version') !== '2.0') throw fail('SAML_LOGOUT_FAILED', 'message-version-not-2.0');
  const issueInstant = time(root.getAttribute('IssueInstant'));
  if (issueInstant === undefined) throw fail('SAML_LOGOUT_FAILED', 'message-without-issue-instant');
  const msg: LogoutMessage = { kind, id, issueInstant, issuer: textOf(logoutChild(root, NS.assertion, 'Issuer')), destination: root.getAttribute('Destination') || undefined };
  if (kind === 'LogoutResponse') {
    msg.inResponseTo = root.getAttribute('InResponseTo') || undefined;
    const status = logoutChild(root, NS.protocol, 'Status');
    const code = status && logoutChild(status, NS.protocol, 'StatusCode');
    msg.status = code?.getAttribute('Value') || undefined;
    msg.subStatus = (code && logoutChild(code, NS.protocol, 'StatusCode')?.getAttribute('Value')) || undefined;
    return msg;
  }
  const until = root.getAttribute('NotOnOrAfter');
  if (until) {
    msg.notOnOrAfter = time(until);
    if (msg.notOnOrAfter === undefined) throw fail('SAML_LOGOUT_FAILED', 'bad-not-on-or-after');
  }
  const nameId = logoutChild(root, NS.assertion, 'NameID');
  // Untrimmed: sessions are indexed under the NameID exactly as the login's assertion carried it
  // (SAML core 8.3 compares NameIDs exactly); a trimmed " alice " would end nobody's session.
  const value = nameId?.textContent ?? undefined;
  if (nameId && value) {
    msg.subject = {
      nameId: value,
      ...optional('nameIdFormat', nameId.getAttribute('Format')),
      ...optional('nameQualifier', nameId.getAttribute('NameQualifier')),
      ...optional('spNameQualifier', nameId.getAttribute('SPNameQualifier')),
      sessionIndexes: children(root, NS.protocol, 'SessionIndex').map((e) => textOf(e)).filter((v): v is string => !!v),
    };
  }
  return msg;
}

function logoutChild(parent: Element, ns: string, name: string): Element | undefined {
  try {
    return onlyChild(parent, ns, name, `duplicate-${name.toLowerCase()}`);
  } catch {
    throw fail('SAML_LOGOUT_FAILED', `duplicate-${name.toLowerCase()}`);
  }
}

function optional<K extends string>(key: K, value: string | null): Partial<Record<K, string>> {
  return value ? ({ [key]: value } as Record<K, string>) : {};
}

/** xs:dateTime with an explicit zone; undefined when absent or not a date. */
function time(value: string | null): number | undefined {
  if (!value || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function attr(name: string, value: string | undefined): string {
  return value === undefined ? '' : ` ${name}="${esc(value)}"`;
}
