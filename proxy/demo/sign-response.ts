import { randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { esc } from '../server/html.js';

/** What the demo IdP asserts about one user. */
export interface DemoAssertion {
  idpEntityId: string;
  spEntityId: string;
  acsUrl: string;
  inResponseTo: string;
  email: string;
  groups: readonly string[];
  name: string;
  nowMs: number;
  privateKeyPem: string;
  certPem: string;
}

const LIFETIME_MS = 5 * 60_000;

/** Builds a SAML 2.0 Response with a signed assertion (RSA-SHA256, exclusive c14n). Demo only. */
export function signDemoResponse(a: DemoAssertion): string {
  const id = () => `_${randomBytes(20).toString('hex')}`;
  const t = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const now = t(a.nowMs);
  const until = t(a.nowMs + LIFETIME_MS);
  const assertionId = id();
  const groups = a.groups.map((g) => `<saml:AttributeValue>${esc(g)}</saml:AttributeValue>`).join('');
  const assertion =
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${assertionId}" Version="2.0" IssueInstant="${now}">` +
    `<saml:Issuer>${esc(a.idpEntityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">${esc(a.email)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData InResponseTo="${esc(a.inResponseTo)}" Recipient="${esc(a.acsUrl)}" NotOnOrAfter="${until}"/></saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${t(a.nowMs - 30_000)}" NotOnOrAfter="${until}"><saml:AudienceRestriction><saml:Audience>${esc(a.spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now}" SessionIndex="${id()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement>` +
    `<saml:Attribute Name="email"><saml:AttributeValue>${esc(a.email)}</saml:AttributeValue></saml:Attribute>` +
    `<saml:Attribute Name="name"><saml:AttributeValue>${esc(a.name)}</saml:AttributeValue></saml:Attribute>` +
    (groups ? `<saml:Attribute Name="groups">${groups}</saml:Attribute>` : '') +
    `</saml:AttributeStatement></saml:Assertion>`;
  const response =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="${id()}" Version="2.0" IssueInstant="${now}" Destination="${esc(a.acsUrl)}" InResponseTo="${esc(a.inResponseTo)}">` +
    `<saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${esc(a.idpEntityId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>${assertion}</samlp:Response>`;
  return Buffer.from(signAssertion(response, a)).toString('base64');
}

function signAssertion(xml: string, a: DemoAssertion): string {
  const sig = new SignedXml({
    privateKey: a.privateKeyPem,
    publicCert: a.certPem,
    signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: "//*[local-name(.)='Assertion']",
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
  });
  sig.computeSignature(xml, {
    prefix: 'ds',
    location: { reference: "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' },
  });
  return sig.getSignedXml();
}
