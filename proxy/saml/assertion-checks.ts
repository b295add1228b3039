import { fail } from '../errors.js';
import { classRefOf } from './authn-context.js';
import { children, NS, onlyChild, parseStrictXml, textOf } from './xml.js';

/** What the checks expect of one assertion. */
export interface AssertionExpectations {
  idpEntityId: string;
  acsUrl: string;
  /** The AuthnRequest ID this browser sent, or undefined for an IdP-initiated login. */
  requestId: string | undefined;
  nowMs: number;
  skewMs: number;
}

/** Facts taken from the verified assertion. */
export interface CheckedAssertion {
  id: string;
  /** Until when the assertion could be presented (for the replay cache). */
  usableUntil: number;
  authnInstant?: number;
  /** The first AuthnStatement's AuthnContextClassRef (see authn-context.ts). */
  authnContextClassRef?: string;
}

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/**
 * Checks that node-saml 5.1 leaves to its callers, on the SIGNED assertion XML only
 * (SAML profiles 2.0, section 4.1.4.2 and 4.1.4.3):
 * - the Issuer is the IdP's entity ID;
 * - a bearer SubjectConfirmation exists whose data has Recipient = our ACS URL, a NotOnOrAfter
 *   still in the future, no NotBefore in the future, and InResponseTo equal to our request ID
 *   (or absent, only for IdP-initiated logins);
 * - an AuthnStatement is present; the subject is a plain NameID.
 * @throws GatehouseError SAML_LOGIN_FAILED with a precise reason
 */
export function checkAssertion(assertionXml: string, expect: AssertionExpectations): CheckedAssertion {
  const assertion = parseStrictXml(assertionXml).documentElement;
  if (assertion.localName !== 'Assertion' || assertion.namespaceURI !== NS.assertion) {
    throw fail('SAML_LOGIN_FAILED', 'signed-content-not-assertion');
  }
  const issuer = textOf(onlyChild(assertion, NS.assertion, 'Issuer', 'duplicate-issuer'));
  if (issuer !== expect.idpEntityId) throw fail('SAML_LOGIN_FAILED', 'issuer-mismatch');
  const id = assertion.getAttribute('ID');
  if (!id) throw fail('SAML_LOGIN_FAILED', 'assertion-without-id');
  const subject = onlyChild(assertion, NS.assertion, 'Subject', 'duplicate-subject');
  if (!subject || children(subject, NS.assertion, 'NameID').length !== 1) throw fail('SAML_LOGIN_FAILED', 'subject-without-name-id');
  const confirmedUntil = bearerConfirmation(subject, expect);
  const authn = children(assertion, NS.assertion, 'AuthnStatement');
  if (authn.length === 0) throw fail('SAML_LOGIN_FAILED', 'no-authn-statement');
  const conditions = onlyChild(assertion, NS.assertion, 'Conditions', 'duplicate-conditions');
  const conditionsUntil = timeAttr(conditions, 'NotOnOrAfter') ?? confirmedUntil;
  const authnInstant = timeAttr(authn[0], 'AuthnInstant');
  const authnContextClassRef = classRefOf(authn[0]!);
  return { id, usableUntil: Math.max(confirmedUntil, conditionsUntil) + expect.skewMs, authnInstant, authnContextClassRef };
}

function bearerConfirmation(subject: Element, expect: AssertionExpectations): number {
  let why = 'no-bearer-subject-confirmation';
  for (const sc of children(subject, NS.assertion, 'SubjectConfirmation')) {
    if (sc.getAttribute('Method') !== BEARER) continue;
    const data = onlyChild(sc, NS.assertion, 'SubjectConfirmationData', 'duplicate-subject-confirmation-data');
    const reason = data ? confirmationProblem(data, expect) : 'no-subject-confirmation-data';
    if (!reason) return timeAttr(data, 'NotOnOrAfter')!;
    why = reason;
  }
  throw fail('SAML_LOGIN_FAILED', why);
}

function confirmationProblem(data: Element, expect: AssertionExpectations): string | undefined {
  if (data.getAttribute('Recipient') !== expect.acsUrl) return 'recipient-mismatch';
  const notOnOrAfter = timeAttr(data, 'NotOnOrAfter');
  if (notOnOrAfter === undefined) return 'subject-confirmation-without-expiry';
  if (expect.nowMs - expect.skewMs >= notOnOrAfter) return 'subject-confirmation-expired';
  const notBefore = timeAttr(data, 'NotBefore');
  if (notBefore !== undefined && expect.nowMs + expect.skewMs < notBefore) return 'subject-confirmation-not-yet-valid';
  const irt = data.getAttribute('InResponseTo') || undefined;
  if (irt !== expect.requestId) return expect.requestId ? 'in-response-to-mismatch' : 'unsolicited-in-response-to';
  return undefined;
}

function timeAttr(el: Element | undefined, name: string): number | undefined {
  const v = el?.getAttribute(name);
  if (!v) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw fail('SAML_LOGIN_FAILED', 'bad-timestamp');
  return ms;
}
