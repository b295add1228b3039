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
export function parseStrictXml(text: string, code: 'SAML_LOGIN_FAILED' | 'SAML_LOGOUT_FAILED' | 'BAD_REQUEST' = 'SAML_LOGIN_FAILED'): Document {
  if (DOCTYPE.test(text)) throw fail(code, 'xml-dtd-present');
  // xmldom recurses per nesting level (normalize): refuse deep documents before parsing them.
  if (nestingDepth(text) > MAX_XML_DEPTH) throw fail(code, 'xml-too-deep');
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

/** Deeper than any honest SAML message (a Response nests about 8 levels). */
export const MAX_XML_DEPTH = 64;

/**
 * The deepest element nesting in XML text, in one linear pass (quotes in attributes respected,
 * comments, PIs and CDATA skipped). Malformed text may be miscounted; the parser refuses it anyway.
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let i = text.indexOf('<');
  while (i !== -1 && i < text.length) {
    const next = text[i + 1];
    if (next === '/') depth--;
    else if (next === '!' || next === '?') {
      const end = text.startsWith('<!--', i) ? '-->' : text.startsWith('<![CDATA[', i) ? ']]>' : '>';
      const close = text.indexOf(end, i + 2);
      if (close === -1) return max;
      i = text.indexOf('<', close + end.length);
      continue;
    } else {
      const close = tagEnd(text, i + 1);
      if (close === -1) return max;
      if (text[close - 1] !== '/') max = Math.max(max, ++depth);
      i = text.indexOf('<', close + 1);
      continue;
    }
    i = text.indexOf('<', i + 1);
  }
  return max;
}

/** Index of the `>` closing a start tag, skipping quoted attribute values; -1 when none. */
function tagEnd(text: string, from: number): number {
  let quote = '';
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = '';
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '>') return i;
  }
  return -1;
}

/**
 * Calls `visit` for every node below `root`, iteratively (no recursion: a deeply nested
 * document cannot overflow the stack). @throws SAML_LOGIN_FAILED `xml-too-deep` past MAX_XML_DEPTH
 */
export function walk(root: Node, visit: (n: Node) => void): void {
  const stack: [Node, number][] = [];
  for (let n = root.lastChild; n; n = n.previousSibling) stack.push([n, 1]);
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > MAX_XML_DEPTH) throw fail('SAML_LOGIN_FAILED', 'xml-too-deep');
    visit(node);
    for (let c = node.lastChild; c; c = c.previousSibling) stack.push([c, depth + 1]);
  }
}
