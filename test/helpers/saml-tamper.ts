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
