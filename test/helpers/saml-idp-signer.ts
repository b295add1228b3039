/**
 * A test-only SAML 2.0 IdP: builds a `samlp:Response` shaped like SimpleSAMLphp's or Okta's and
 * signs it with xml-crypto. Independent of Gatehouse's own SAML code on purpose, so the tests do
 * not share a bug with the code they test.
 *
 * Signatures follow SAML Core 2.0 section 5.4: exclusive c14n, enveloped-signature transform,
 * one Reference to the signed element's ID, and `ds:Signature` placed right after `saml:Issuer`
 * as the schema's sequence requires (sections 2.3.3 and 3.2.2).
 */
import { createHmac, createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { SignedXml } from 'xml-crypto';
import { encrypt as xmlEncrypt, type EncryptionAlgorithm, type KeyEncryptionAlgorithm } from 'xml-encryption';
import { IDP_KEYS } from './test-keys.js';

/** Hash names accepted for the signature and digest algorithms. */
export type HashName = 'sha1' | 'sha256' | 'sha512';

/** Everything that goes into one Response. Defaults are documented per field. */
export interface ResponseOptions {
  idpEntityId: string;
  /** The SP entity ID, used as the Audience. */
  spEntityId: string;
  /** The SP's ACS URL, used as Response Destination and SubjectConfirmationData Recipient. */
  acsUrl: string;
  /** Response InResponseTo and SubjectConfirmationData InResponseTo. Default: absent (IdP-initiated). */
  inResponseTo?: string;
  nameId: string;
  /** Default `urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress`. */
  nameIdFormat?: string;
  /** Attribute name to values; each value becomes one `AttributeValue xsi:type="xs:string"`. */
  attributes?: Record<string, string[]>;
  /** AuthnStatement SessionIndex. Default: a random ID. */
  sessionIndex?: string;
  /** Issue instant. Default: the current time. */
  now?: Date;
  /** How far before `now` Conditions NotBefore lies. Default 30 (as SimpleSAMLphp does). */
  notBeforeSkewSeconds?: number;
  /** Conditions and SubjectConfirmationData NotOnOrAfter = now + this. Default 300. */
  lifetimeSeconds?: number;
  /** Default: `_` + 40 random hex digits. */
  responseId?: string;
  /** Default: `_` + 40 random hex digits. */
  assertionId?: string;
  /** `Success`, `Requester`, `Responder`... or a full URN. Default `Success`. */
  statusCode?: string;
  /** Include the Assertion. Default: only when the status is Success, as IdPs do. */
  includeAssertion?: boolean;
  /** Default true. */
  signAssertion?: boolean;
  /** Default false. */
  signResponse?: boolean;
  /** Signing key and the certificate published in KeyInfo. Default {@link IDP_KEYS}. */
  keys?: { privateKeyPem: string; certPem: string };
  /** RSA signature hash. Default `sha256`. */
  signatureAlgorithm?: HashName;
  /** Reference digest. Default `sha256`. */
  digestAlgorithm?: HashName;
  /** Put `ds:KeyInfo/ds:X509Data` with the certificate in each signature, as IdPs do. Default true. */
  includeKeyInfo?: boolean;
  // Overrides that make the response wrong on purpose. `null` omits the attribute or element.
  /** Response Destination. Default `acsUrl`. */
  destination?: string | null;
  /** SubjectConfirmationData Recipient. Default `acsUrl`. */
  recipient?: string | null;
  /** The Audience; `null` omits the whole AudienceRestriction. Default `spEntityId`. */
  audience?: string | null;
  /** The Response's Issuer. Default `idpEntityId`. */
  issuer?: string;
  /** The Assertion's Issuer. Default `idpEntityId`. */
  assertionIssuer?: string;
  /** SubjectConfirmationData InResponseTo. Default `inResponseTo`. */
  subjectConfirmationInResponseTo?: string | null;
  /** Leave Conditions out entirely. Default false. */
  omitConditions?: boolean;
  /** Default `urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport`. */
  authnContextClassRef?: string;
  /** AuthnStatement AuthnInstant (an IdP answering from an older SSO session). Default `now`. */
  authnInstant?: Date;
  /** Encrypt the (signed) assertion; only {@link buildEncryptedResponseXml} can (encryption is async). */
  encrypt?: EncryptOptions;
}

/** How an IdP encrypts the assertion to an SP (XML Encryption, with xml-encryption's `encrypt`). */
export interface EncryptOptions {
  /** The SP certificate (PEM) to encrypt to. */
  certPem: string;
  /** Content encryption. Default aes256-gcm. */
  dataAlgorithm?: EncryptionAlgorithm;
  /** Key transport. Default rsa-oaep-mgf1p. */
  keyAlgorithm?: KeyEncryptionAlgorithm;
  /** Name the certificate in the EncryptedKey's KeyInfo, as xml-encryption does. Default true (SimpleSAMLphp names none). */
  includeCertificate?: boolean;
  /** Changes the signed assertion XML just before it is encrypted (attacks hidden by encryption). */
  alterPlaintext?: (assertionXml: string) => string;
}

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  xs: 'http://www.w3.org/2001/XMLSchema',
} as const;

const SIGNATURE_URI: Record<HashName, string> = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  sha256: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  sha512: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
};

const DIGEST_URI: Record<HashName, string> = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#sha1',
  sha256: 'http://www.w3.org/2001/04/xmlenc#sha256',
  sha512: 'http://www.w3.org/2001/04/xmlenc#sha512',
};

const STATUS_PREFIX = 'urn:oasis:names:tc:SAML:2.0:status:';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const PASSWORD_PROTECTED = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const BASIC_NAME_FORMAT = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const SESSION_SECONDS = 8 * 3600;

/** Builds the Response and signs it (assertion first, then the response) as configured. */
export function buildSignedResponseXml(o: ResponseOptions): string {
  if (o.encrypt) throw new Error('encrypt: use buildEncryptedResponseXml');
  const ids = { response: o.responseId ?? randomId(), assertion: o.assertionId ?? randomId() };
  const xml = buildResponseXml(o, ids);
  return signResponseXml(xml, { ...o, signAssertion: hasAssertion(o) && (o.signAssertion ?? true) });
}

/** The signing options of {@link ResponseOptions}, for {@link signResponseXml}. */
export type SigningOptions = Pick<ResponseOptions, 'signAssertion' | 'signResponse' | 'keys' | 'signatureAlgorithm' | 'digestAlgorithm' | 'includeKeyInfo'>;

/**
 * Signs an already built (possibly hand-edited) Response as the IdP would: the Assertion
 * (default yes), then the Response (default no). Lets a test make the IdP sign content an
 * attacker chose, e.g. a NameID that contains a comment.
 */
export function signResponseXml(xml: string, o: SigningOptions): string {
  let out = xml;
  if (o.signAssertion ?? true) out = signElement(out, "/*[local-name(.)='Response']/*[local-name(.)='Assertion']", o);
  if (o.signResponse ?? false) out = signElement(out, "/*[local-name(.)='Response']", o);
  return out;
}

/** XML-DSig HMAC algorithm URIs (RFC 2104 MACs; RFC 4051 for SHA-256). */
export const HMAC_URI = {
  sha1: 'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
  sha256: 'http://www.w3.org/2001/04/xmldsig-more#hmac-sha256',
} as const;

/**
 * Signs the Assertion with an HMAC keyed with `key` instead of an RSA key: the key-confusion
 * attack uses the IdP's *public* certificate (PEM text or DER bytes) as the HMAC key, hoping a
 * verifier that takes the algorithm from the message feeds its configured certificate to HMAC.
 * No KeyInfo is emitted (an HMAC has no certificate).
 */
export function hmacSignAssertionXml(xml: string, key: Buffer, hash: keyof typeof HMAC_URI = 'sha256'): string {
  const uri = HMAC_URI[hash];
  const sig = new SignedXml({ privateKey: key, signatureAlgorithm: uri, canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
  sig.SignatureAlgorithms = {
    [uri]: class {
      getSignature(signedInfo: string | Buffer, k: Buffer): string {
        return createHmac(hash, k).update(signedInfo).digest('base64');
      }
      verifySignature(): boolean {
        throw new Error('test signer: HMAC verification is not offered');
      }
      getAlgorithmName(): string {
        return uri;
      }
    },
  } as unknown as SignedXml['SignatureAlgorithms'];
  const xpath = "/*[local-name(.)='Response']/*[local-name(.)='Assertion']";
  sig.addReference({
    xpath,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: DIGEST_URI.sha256,
  });
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: `${xpath}/*[local-name(.)='Issuer']`, action: 'after' } });
  return sig.getSignedXml();
}

/**
 * Builds the Response with the assertion signed, encrypts that assertion into a
 * `saml:EncryptedAssertion` (SAML core 2.3.4), then signs the response if asked (its signature
 * covers the EncryptedAssertion, as an IdP's does).
 */
export async function buildEncryptedResponseXml(o: ResponseOptions & { encrypt: EncryptOptions }): Promise<string> {
  const plain = buildSignedResponseXml({ ...o, encrypt: undefined, signResponse: false });
  const start = plain.indexOf('<saml:Assertion');
  const end = plain.indexOf('</saml:Assertion>') + '</saml:Assertion>'.length;
  if (start < 0 || end < start) throw new Error('no assertion to encrypt');
  // Standalone, the assertion must declare the prefix it inherited (exclusive c14n: same digest).
  const assertion = plain.slice(start, end).replace('<saml:Assertion', `<saml:Assertion xmlns:saml="${NS.saml}"`);
  const encrypted = await encryptXml(o.encrypt.alterPlaintext ? o.encrypt.alterPlaintext(assertion) : assertion, o.encrypt);
  let xml = `${plain.slice(0, start)}<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>${plain.slice(end)}`;
  if (o.signResponse) xml = signElement(xml, "/*[local-name(.)='Response']", o);
  return xml;
}

function encryptXml(content: string, e: EncryptOptions): Promise<string> {
  const certPem = e.certPem;
  return new Promise((resolve, reject) => {
    xmlEncrypt(
      content,
      {
        rsa_pub: createPublicKey(certPem).export({ type: 'spki', format: 'pem' }) as string,
        pem: certPem,
        encryptionAlgorithm: e.dataAlgorithm ?? 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: e.keyAlgorithm ?? 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
        keyEncryptionDigest: 'sha1',
        warnInsecureAlgorithm: false,
      } as Parameters<typeof xmlEncrypt>[1],
      (err, result) => {
        if (err) return reject(err);
        resolve((e.includeCertificate ?? true) ? result : result.replace(/<KeyInfo>\s*<X509Data>[\s\S]*?<\/X509Data>\s*<\/KeyInfo>/, ''));
      },
    );
  });
}

/** Base64 of the UTF-8 XML, as sent in the HTTP-POST binding's `SAMLResponse` form field. */
export function encodeResponse(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/** `encodeResponse(buildSignedResponseXml(o))`. */
export function signedResponse(o: ResponseOptions): string {
  return encodeResponse(buildSignedResponseXml(o));
}

/** Escapes text content and attribute values alike; refuses characters XML 1.0 cannot carry. */
export function escapeXml(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(value)) {
    throw new Error(`not representable in XML 1.0: ${JSON.stringify(value)}`);
  }
  return value.replace(/[&<>"'\r\n\t]/g, (c) => ESCAPES[c] ?? c);
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
  '\r': '&#xD;', '\n': '&#xA;', '\t': '&#x9;',
};

/**
 * Signs the element `xpath` selects (an enveloped signature placed after its `Issuer` child) with
 * the IdP key, e.g. a LogoutResponse the IdP really signed, for attacks that borrow its signature.
 */
export function signElement(xml: string, xpath: string, o: SigningOptions): string {
  const keys = o.keys ?? IDP_KEYS;
  const sig = new SignedXml({
    privateKey: privateKeyOf(keys.privateKeyPem),
    publicCert: (o.includeKeyInfo ?? true) ? keys.certPem : undefined,
    signatureAlgorithm: SIGNATURE_URI[o.signatureAlgorithm ?? 'sha256'],
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath,
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    digestAlgorithm: DIGEST_URI[o.digestAlgorithm ?? 'sha256'],
  });
  const issuer = `${xpath}/*[local-name(.)='Issuer']`;
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: issuer, action: 'after' } });
  return sig.getSignedXml();
}

const parsedKeys = new Map<string, KeyObject>();

/** Parsing the PEM costs about as much as the RSA operation itself, so parse each key once. */
function privateKeyOf(pem: string): KeyObject {
  let key = parsedKeys.get(pem);
  if (!key) {
    key = createPrivateKey(pem);
    parsedKeys.set(pem, key);
  }
  return key;
}

function buildResponseXml(o: ResponseOptions, ids: { response: string; assertion: string }): string {
  const now = o.now ?? new Date();
  return '<?xml version="1.0" encoding="UTF-8"?>'
    + `<samlp:Response${attrs({
      'xmlns:samlp': NS.samlp, 'xmlns:saml': NS.saml, ID: ids.response, Version: '2.0',
      IssueInstant: instant(now), Destination: pick(o.destination, o.acsUrl), InResponseTo: o.inResponseTo,
    })}>`
    + element('saml:Issuer', {}, escapeXml(o.issuer ?? o.idpEntityId))
    + `<samlp:Status><samlp:StatusCode${attrs({ Value: statusUri(o.statusCode) })}/></samlp:Status>`
    + (hasAssertion(o) ? buildAssertionXml(o, ids.assertion, now) : '')
    + '</samlp:Response>';
}

function buildAssertionXml(o: ResponseOptions, id: string, now: Date): string {
  return `<saml:Assertion${attrs({
    'xmlns:xsi': NS.xsi, 'xmlns:xs': NS.xs, ID: id, Version: '2.0', IssueInstant: instant(now),
  })}>`
    + element('saml:Issuer', {}, escapeXml(o.assertionIssuer ?? o.idpEntityId))
    + subjectXml(o, now)
    + (o.omitConditions ? '' : conditionsXml(o, now))
    + authnStatementXml(o, now)
    + attributeStatementXml(o.attributes ?? {})
    + '</saml:Assertion>';
}

function subjectXml(o: ResponseOptions, now: Date): string {
  const nameId = element('saml:NameID',
    { SPNameQualifier: o.spEntityId, Format: o.nameIdFormat ?? EMAIL_FORMAT }, escapeXml(o.nameId));
  const data = `<saml:SubjectConfirmationData${attrs({
    NotOnOrAfter: instant(addSeconds(now, o.lifetimeSeconds ?? 300)),
    Recipient: pick(o.recipient, o.acsUrl),
    InResponseTo: pick(o.subjectConfirmationInResponseTo, o.inResponseTo),
  })}/>`;
  return `<saml:Subject>${nameId}`
    + element('saml:SubjectConfirmation', { Method: BEARER }, data)
    + '</saml:Subject>';
}

function conditionsXml(o: ResponseOptions, now: Date): string {
  const audience = pick(o.audience, o.spEntityId);
  const restriction = audience === undefined ? ''
    : `<saml:AudienceRestriction>${element('saml:Audience', {}, escapeXml(audience))}</saml:AudienceRestriction>`;
  return element('saml:Conditions', {
    NotBefore: instant(addSeconds(now, -(o.notBeforeSkewSeconds ?? 30))),
    NotOnOrAfter: instant(addSeconds(now, o.lifetimeSeconds ?? 300)),
  }, restriction);
}

function authnStatementXml(o: ResponseOptions, now: Date): string {
  const classRef = element('saml:AuthnContextClassRef', {}, escapeXml(o.authnContextClassRef ?? PASSWORD_PROTECTED));
  return element('saml:AuthnStatement', {
    AuthnInstant: instant(o.authnInstant ?? now),
    SessionNotOnOrAfter: instant(addSeconds(now, SESSION_SECONDS)),
    SessionIndex: o.sessionIndex ?? randomId(),
  }, element('saml:AuthnContext', {}, classRef));
}

function attributeStatementXml(attributes: Record<string, string[]>): string {
  const items = Object.entries(attributes).map(([name, values]) => element(
    'saml:Attribute',
    { Name: name, NameFormat: BASIC_NAME_FORMAT },
    values.map((v) => element('saml:AttributeValue', { 'xsi:type': 'xs:string' }, escapeXml(v))).join(''),
  ));
  return items.length === 0 ? '' : `<saml:AttributeStatement>${items.join('')}</saml:AttributeStatement>`;
}

/** `<name attrs>content</name>`; `content` must already be XML. */
function element(name: string, attributes: Record<string, string | undefined>, content: string): string {
  return `<${name}${attrs(attributes)}>${content}</${name}>`;
}

/** Renders attributes in the given order, skipping undefined ones. */
function attrs(attributes: Record<string, string | undefined>): string {
  return Object.entries(attributes)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(v)}"`)
    .join('');
}

/** An override: `undefined` keeps the default, `null` omits, a string replaces. */
function pick(override: string | null | undefined, fallback: string | undefined): string | undefined {
  if (override === null) return undefined;
  return override ?? fallback;
}

function hasAssertion(o: ResponseOptions): boolean {
  return o.includeAssertion ?? statusUri(o.statusCode) === `${STATUS_PREFIX}Success`;
}

function statusUri(code: string | undefined): string {
  const value = code ?? 'Success';
  return value.includes(':') ? value : `${STATUS_PREFIX}${value}`;
}

/** xs:dateTime in UTC without fractional seconds, as most IdPs emit. */
function instant(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function addSeconds(d: Date, seconds: number): Date {
  return new Date(d.getTime() + seconds * 1000);
}

/** SAML IDs are xs:ID (an NCName), so they cannot start with a digit. */
function randomId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}
