import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import { fail } from '../errors.js';
import type { SpKey } from '../config/sp-keys.js';
import { ExclusiveCanonicalization } from 'xml-crypto';
import { children, NS, parseStrictXml } from './xml.js';

/** XML Encryption algorithm URIs (xmlenc-core 5.2, xmlenc-core1 5.2.4 for GCM). */
export const XENC_ALGORITHMS = {
  aes128Gcm: 'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  aes256Gcm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  aes128Cbc: 'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  aes256Cbc: 'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  rsaOaepMgf1p: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
} as const;

const SHA1 = 'http://www.w3.org/2000/09/xmldsig#sha1';

interface DataCipher {
  cipher: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-cbc' | 'aes-256-cbc';
  keyBytes: number;
  ivBytes: number;
  gcm: boolean;
}

const GCM: Record<string, DataCipher> = {
  [XENC_ALGORITHMS.aes256Gcm]: { cipher: 'aes-256-gcm', keyBytes: 32, ivBytes: 12, gcm: true },
  [XENC_ALGORITHMS.aes128Gcm]: { cipher: 'aes-128-gcm', keyBytes: 16, ivBytes: 12, gcm: true },
};
const CBC: Record<string, DataCipher> = {
  [XENC_ALGORITHMS.aes256Cbc]: { cipher: 'aes-256-cbc', keyBytes: 32, ivBytes: 16, gcm: false },
  [XENC_ALGORITHMS.aes128Cbc]: { cipher: 'aes-128-cbc', keyBytes: 16, ivBytes: 16, gcm: false },
};

/** A connection's `encryption` settings. */
export interface EncryptionPolicy {
  require: boolean;
  allow_cbc: boolean;
}

/** Content-encryption algorithms a connection accepts, strongest first (also what metadata lists). */
export function dataAlgorithms(policy: EncryptionPolicy): string[] {
  return [...Object.keys(GCM), ...(policy.allow_cbc ? Object.keys(CBC) : [])];
}

/**
 * Key-transport algorithms accepted: RSA-OAEP with MGF1/SHA-1 only. rsa-1_5 is refused whatever
 * the settings (Bleichenbacher 1998, Marvin 2023; Node itself refuses PKCS#1 v1.5 decryption), and
 * xmlenc11#rsa-oaep is not offered because node-saml's decryption library cannot read it.
 */
export const KEY_TRANSPORT_ALGORITHMS: readonly string[] = [XENC_ALGORITHMS.rsaOaepMgf1p];

/** The assertion inside an EncryptedAssertion, and which of our keys it was encrypted to. */
export interface OpenedAssertion {
  key: SpKey;
  xml: string;
}

/**
 * Checks an EncryptedAssertion's shape and algorithms BEFORE any decryption, then finds the SP key
 * it was encrypted to and decrypts it. Only the layout every IdP we know sends is accepted
 * (SAML core 2.2.4, xmlenc-core 3): one EncryptedData holding EncryptionMethod, ds:KeyInfo with
 * one inline EncryptedKey, and CipherData/CipherValue; no RetrievalMethod or CipherReference (no
 * fetching, and no second reading for node-saml's decryption to pick differently).
 * The key is the one named by the EncryptedKey's certificate when there is one, else the one
 * whose RSA-OAEP unwrap succeeds (SimpleSAMLphp names none; OAEP fails cleanly with a wrong key).
 * @throws GatehouseError SAML_LOGIN_FAILED `encrypted-assertion-malformed`,
 *   `encryption-algorithm-not-allowed`, `encryption-key-unknown`, `decryption-failed`
 */
export function openEncryptedAssertion(ea: Element, keys: readonly SpKey[], policy: EncryptionPolicy): OpenedAssertion {
  const layout = new Set<Element>([ea]);
  const take = (parent: Element, names: [string, string][]) => {
    const els = sequence(parent, names);
    for (const e of els) layout.add(e);
    return els;
  };
  const [encryptedData] = take(ea, [[NS.xenc, 'EncryptedData']]);
  const [dataMethod, keyInfo, dataCipher] = take(encryptedData!, [[NS.xenc, 'EncryptionMethod'], [NS.dsig, 'KeyInfo'], [NS.xenc, 'CipherData']]);
  const [encryptedKey] = take(keyInfo!, [[NS.xenc, 'EncryptedKey']]);
  const { method: keyMethod, hint, cipher: keyCipher } = encryptedKeyParts(encryptedKey!, layout);
  if (elementsOf(dataMethod!).length > 0) throw malformed();
  const data = (policy.allow_cbc ? { ...GCM, ...CBC } : GCM)[dataMethod!.getAttribute('Algorithm') ?? ''];
  if (!data) throw fail('SAML_LOGIN_FAILED', 'encryption-algorithm-not-allowed');
  checkKeyTransport(keyMethod, layout);
  const wrapped = cipherValue(keyCipher, layout);
  const content = cipherValue(dataCipher!, layout);
  checkWholeSubtree(ea, layout);
  const candidates = keysNamedBy(hint, keys);
  for (const key of candidates) {
    const cek = unwrap(key, wrapped);
    if (cek?.length === data.keyBytes) return { key, xml: decryptContent(data, cek, content) };
  }
  throw fail('SAML_LOGIN_FAILED', 'decryption-failed');
}

/**
 * node-saml's decryption (xml-encryption 3.1) reads the EncryptedAssertion by local name in any
 * namespace and takes the first match in document order: the key from the first
 * `//*[local-name()='CipherValue']`, the content from the first
 * `//EncryptedData/CipherData/CipherValue`, the algorithms from the first EncryptionMethods.
 * So every element of the subtree must be one this function placed in the accepted layout
 * (nothing foreign, in any namespace, hidden in a KeyInfo, ReferenceList or CarriedKeyName),
 * and the elements those look-ups name are counted by local name: exactly one key and one
 * content for both readers.
 */
function checkWholeSubtree(ea: Element, layout: ReadonlySet<Element>): void {
  const counts = new Map<string, number>();
  const all = Array.from(ea.getElementsByTagName('*'));
  for (const el of all) {
    if (!layout.has(el)) throw malformed();
    counts.set(el.localName, (counts.get(el.localName) ?? 0) + 1);
  }
  const n = (name: string) => counts.get(name) ?? 0;
  if (n('EncryptedData') !== 1 || n('EncryptedKey') !== 1 || n('CipherData') !== 2 || n('CipherValue') !== 2
    || n('EncryptionMethod') !== 2 || n('KeyInfo') > 2 || n('DigestMethod') > 1 || n('ReferenceList') > 1
    || n('RetrievalMethod') > 0 || n('CipherReference') > 0 || n('EncryptedAssertion') > 0) {
    throw malformed();
  }
}

/**
 * xmlenc-core 3.5.1: EncryptionMethod, ds:KeyInfo?, CipherData, ReferenceList?, CarriedKeyName?.
 * The KeyInfo may only name our certificate (ds:X509Data/ds:X509Certificate, ds:KeyName); the
 * ReferenceList only hold xenc:DataReference; CarriedKeyName only text.
 */
function encryptedKeyParts(ek: Element, layout: Set<Element>): { method: Element; hint: Element | undefined; cipher: Element } {
  const els = elementsOf(ek);
  const method = els.shift();
  const hint = els[0] && is(els[0], NS.dsig, 'KeyInfo') ? els.shift() : undefined;
  const cipher = els.shift();
  if (!method || !is(method, NS.xenc, 'EncryptionMethod') || !cipher || !is(cipher, NS.xenc, 'CipherData')) throw malformed();
  const refs = els[0] && is(els[0], NS.xenc, 'ReferenceList') ? els.shift() : undefined;
  const carried = els[0] && is(els[0], NS.xenc, 'CarriedKeyName') ? els.shift() : undefined;
  if (els.length > 0) throw malformed();
  for (const e of [method, hint, cipher, refs, carried]) if (e) layout.add(e);
  if (hint) {
    for (const part of elementsOf(hint)) {
      layout.add(part);
      if (is(part, NS.dsig, 'KeyName')) {
        if (elementsOf(part).length > 0) throw malformed();
      } else if (is(part, NS.dsig, 'X509Data')) {
        const certs = elementsOf(part);
        if (certs.length === 0 || certs.some((c) => !is(c, NS.dsig, 'X509Certificate') || elementsOf(c).length > 0)) throw malformed();
        for (const c of certs) layout.add(c);
      } else {
        throw malformed();
      }
    }
  }
  if (refs) {
    for (const r of elementsOf(refs)) {
      if (!is(r, NS.xenc, 'DataReference') || elementsOf(r).length > 0) throw malformed();
      layout.add(r);
    }
  }
  if (carried && elementsOf(carried).length > 0) throw malformed();
  return { method, hint, cipher };
}

/** RSA-OAEP with MGF1-SHA1 and, if named at all, a SHA-1 digest (xmlenc-core 5.4.2). */
function checkKeyTransport(method: Element, layout: Set<Element>): void {
  if (!KEY_TRANSPORT_ALGORITHMS.includes(method.getAttribute('Algorithm') ?? '')) {
    throw fail('SAML_LOGIN_FAILED', 'encryption-algorithm-not-allowed');
  }
  const params = elementsOf(method);
  if (params.length > 1) throw malformed();
  if (params[0]) layout.add(params[0]);
  if (params[0] && !(is(params[0], NS.dsig, 'DigestMethod') && params[0].getAttribute('Algorithm') === SHA1)) {
    throw fail('SAML_LOGIN_FAILED', 'encryption-algorithm-not-allowed');
  }
}

/** The key a certificate in the EncryptedKey's KeyInfo names; every key when none is named. */
function keysNamedBy(keyInfo: Element | undefined, keys: readonly SpKey[]): readonly SpKey[] {
  const certs = keyInfo ? Array.from(keyInfo.getElementsByTagNameNS(NS.dsig, 'X509Certificate')) : [];
  if (certs.length === 0) return keys;
  const named = certs.map((c) => (c.textContent ?? '').replace(/\s+/g, ''));
  const match = keys.filter((k) => named.includes(k.certBase64));
  if (match.length === 0) throw fail('SAML_LOGIN_FAILED', 'encryption-key-unknown');
  return match;
}

function unwrap(key: SpKey, wrapped: Buffer): Buffer | undefined {
  try {
    return privateDecrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, wrapped);
  } catch {
    return undefined;
  }
}

/** xmlenc-core 5.2: IV first; GCM's 128-bit tag last (xmlenc-core1 5.2.4); CBC's padding last byte = its length. */
function decryptContent(data: DataCipher, cek: Buffer, content: Buffer): string {
  try {
    const iv = content.subarray(0, data.ivBytes);
    const body = content.subarray(data.ivBytes, data.gcm ? content.length - 16 : content.length);
    const decipher = createDecipheriv(data.cipher, cek, iv);
    if (data.gcm) (decipher as ReturnType<typeof createDecipheriv> & { setAuthTag(t: Buffer): void }).setAuthTag(content.subarray(content.length - 16));
    decipher.setAutoPadding(false);
    let plain = Buffer.concat([decipher.update(body), decipher.final()]);
    if (!data.gcm) {
      const pad = plain[plain.length - 1] ?? 0;
      if (pad < 1 || pad > 16) throw new Error('bad padding');
      plain = plain.subarray(0, plain.length - pad);
    }
    const xml = plain.toString('utf8');
    if (xml.includes('\uFFFD')) throw new Error('not UTF-8');
    return xml;
  } catch (err) {
    throw fail('SAML_LOGIN_FAILED', 'decryption-failed', err);
  }
}

/** CipherData must hold exactly one CipherValue (no CipherReference: nothing is fetched). */
function cipherValue(cipherData: Element, layout: Set<Element>): Buffer {
  const [value] = sequence(cipherData, [[NS.xenc, 'CipherValue']]);
  if (elementsOf(value!).length > 0) throw malformed();
  layout.add(value!);
  const text = (value!.textContent ?? '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw malformed();
  return Buffer.from(text, 'base64');
}

/** The element children of `parent`, which must be exactly these, in this order. */
function sequence(parent: Element, names: [string, string][]): Element[] {
  const els = elementsOf(parent);
  if (els.length !== names.length || els.some((e, i) => !is(e, names[i]![0], names[i]![1]))) throw malformed();
  return els;
}

function elementsOf(parent: Element): Element[] {
  const out: Element[] = [];
  for (let n = parent.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

function is(e: Element, ns: string, localName: string): boolean {
  return e.namespaceURI === ns && e.localName === localName;
}

function malformed() {
  return fail('SAML_LOGIN_FAILED', 'encrypted-assertion-malformed');
}

/**
 * Whether the assertion Gatehouse decrypted and inspected is the one node-saml verified
 * (`profile.getAssertionXml()`: the signed reference's output, or the decrypted assertion when
 * the Response was signed): both exclusive-canonicalized, their top-level ds:Signature removed.
 * The layout check makes the two decryptions read the same bytes; this proves they did, so no
 * differential between the readers can leave the response guard checking a different assertion.
 */
export function sameAssertion(decrypted: string, verified: string): boolean {
  return canonicalWithoutSignature(decrypted) === canonicalWithoutSignature(verified);
}

function canonicalWithoutSignature(xml: string): string {
  const root = parseStrictXml(xml).documentElement;
  for (const sig of children(root, NS.dsig, 'Signature')) root.removeChild(sig);
  return new ExclusiveCanonicalization().process(root, {}).toString();
}
