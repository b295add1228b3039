import { DOMParser } from '@xmldom/xmldom';
import { fail } from '../errors.js';

/** SAML and XML-DSig namespaces (SAML core 2.0, section 1.2). */
export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xenc: 'http://www.w3.org/2001/04/xmlenc#',
} as const;

const DOCTYPE = /<!DOCTYPE|<!ENTITY/i;

/**
 * Parses untrusted XML strictly: any DTD is refused before parsing (XXE, entity expansion),
 * and any parser error or warning is fatal rather than "recovered" into a different tree.
 * @throws GatehouseError with the given code and reasons `xml-dtd-present` / `xml-malformed`
 */
export function parseStrictXml(text: string, code: 'SAML_LOGIN_FAILED' | 'BAD_REQUEST' = 'SAML_LOGIN_FAILED'): Document {
  if (DOCTYPE.test(text)) throw fail(code, 'xml-dtd-present');
  let problem: string | undefined;
  const onError = (msg: string) => {
    problem ??= msg;
  };
  const doc = new DOMParser({ errorHandler: { warning: onError, error: onError, fatalError: onError } }).parseFromString(
    text,
    'text/xml',
  );
  if (problem || !doc?.documentElement) throw fail(code, 'xml-malformed', problem);
  return doc as unknown as Document;
}

/** Direct element children of `parent` with the given namespace and local name. */
export function children(parent: Element | Document, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as Element).localName === localName && (n as Element).namespaceURI === ns) out.push(n as Element);
  }
  return out;
}

/** The single direct child, undefined when absent; throws when repeated. */
export function onlyChild(parent: Element, ns: string, localName: string, reason: string): Element | undefined {
  const list = children(parent, ns, localName);
  if (list.length > 1) throw fail('SAML_LOGIN_FAILED', reason);
  return list[0];
}

/** All descendant elements with the namespace and local name. */
export function descendants(root: Element | Document, ns: string, localName: string): Element[] {
  return Array.from((root as Element).getElementsByTagNameNS(ns, localName));
}

/** Trimmed text content of an element. */
export function textOf(el: Element | undefined): string | undefined {
  const t = el?.textContent?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** Yields every node below `root` (depth first). */
export function* walk(root: Node): Generator<Node> {
  for (let n = root.firstChild; n; n = n.nextSibling) {
    yield n;
    yield* walk(n);
  }
}
