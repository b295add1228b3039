import { constants, createDecipheriv, privateDecrypt } from 'node:crypto';
import { fail } from '../errors.js';
import type { SpKey } from './sp-keys.js';
import { NS } from './xml.js';

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
  const [encryptedData] = sequence(ea, [[NS.xenc, 'EncryptedData']]);
  const [dataMethod, keyInfo, dataCipher] = sequence(encryptedData!, [[NS.xenc, 'EncryptionMethod'], [NS.dsig, 'KeyInfo'], [NS.xenc, 'CipherData']]);
  const [encryptedKey] = sequence(keyInfo!, [[NS.xenc, 'EncryptedKey']]);
  const { method: keyMethod, hint, cipher: keyCipher } = encryptedKeyParts(encryptedKey!);
  // One key and two cipher values in all: what node-saml's decryption (which takes the first of
  // each in document order) reads is then exactly what was checked here.
  const count = (ns: string, name: string) => ea.getElementsByTagNameNS(ns, name).length;
  if (count(NS.xenc, 'EncryptedKey') !== 1 || count(NS.xenc, 'CipherValue') !== 2 || count(NS.xenc, 'EncryptedData') !== 1) throw malformed();
  if (elementsOf(dataMethod!).length > 0) throw malformed();
  const data = (policy.allow_cbc ? { ...GCM, ...CBC } : GCM)[dataMethod!.getAttribute('Algorithm') ?? ''];
  if (!data) throw fail('SAML_LOGIN_FAILED', 'encryption-algorithm-not-allowed');
  checkKeyTransport(keyMethod);
  const candidates = keysNamedBy(hint, keys);
  const wrapped = cipherValue(keyCipher);
  const content = cipherValue(dataCipher!);
  for (const key of candidates) {
    const cek = unwrap(key, wrapped);
    if (cek?.length === data.keyBytes) return { key, xml: decryptContent(data, cek, content) };
  }
  throw fail('SAML_LOGIN_FAILED', 'decryption-failed');
}

/** xmlenc-core 3.5.1: EncryptionMethod, ds:KeyInfo?, CipherData, then only ReferenceList / CarriedKeyName. */
function encryptedKeyParts(ek: Element): { method: Element; hint: Element | undefined; cipher: Element } {
  const els = elementsOf(ek);
  const method = els.shift();
  const hint = els[0] && is(els[0], NS.dsig, 'KeyInfo') ? els.shift() : undefined;
  const cipher = els.shift();
  if (!method || !is(method, NS.xenc, 'EncryptionMethod') || !cipher || !is(cipher, NS.xenc, 'CipherData')) throw malformed();
  if (els.some((e) => !is(e, NS.xenc, 'ReferenceList') && !is(e, NS.xenc, 'CarriedKeyName'))) throw malformed();
  return { method, hint, cipher };
}

/** RSA-OAEP with MGF1-SHA1 and, if named at all, a SHA-1 digest (xmlenc-core 5.4.2). */
function checkKeyTransport(method: Element): void {
  if (!KEY_TRANSPORT_ALGORITHMS.includes(method.getAttribute('Algorithm') ?? '')) {
    throw fail('SAML_LOGIN_FAILED', 'encryption-algorithm-not-allowed');
  }
  const params = elementsOf(method);
  if (params.length > 1) throw malformed();
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
function cipherValue(cipherData: Element): Buffer {
  const [value] = sequence(cipherData, [[NS.xenc, 'CipherValue']]);
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
