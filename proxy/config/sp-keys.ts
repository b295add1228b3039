import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** One SP key pair as configured: `saml.sp_keys[]`. */
export interface SpKeyFiles {
  key_file: string;
  cert_file: string;
}

/**
 * One of Gatehouse's own SAML keys: signs AuthnRequests and logout messages (the first one only)
 * and decrypts assertions (any of them). Every one is published in SP metadata.
 */
export interface SpKey {
  /** PKCS#8 or PKCS#1 PEM as read. Never logged. */
  readonly privateKeyPem: string;
  readonly privateKey: KeyObject;
  readonly certPem: string;
  /** The certificate's DER as one base64 line, as metadata and KeyInfo carry it. */
  readonly certBase64: string;
  /** `AA:BB:...` SHA-256 of the certificate, for logs and `gatehouse check`. */
  readonly fingerprint256: string;
  /** Epoch ms. */
  readonly notAfter: number;
}

/**
 * The SP's keys in configured order. During a rollover two are listed: the new one is added
 * second (published, decrypts, does not sign yet), then moved first once the IdPs have the new
 * metadata, then the old one is removed.
 */
export interface SpKeys {
  /** The key that signs (the first configured). */
  readonly signing: SpKey;
  /** Every key, signing key first: all decrypt, all are published. */
  readonly all: readonly SpKey[];
}

/** RSA only: XML Encryption key transport (RSA-OAEP) needs an RSA key; 2048 bits at least. */
const MIN_RSA_BITS = 2048;

/**
 * Reads and checks one configured pair.
 * @returns the key, or a message saying what is wrong (for config problems)
 */
export function readSpKey(files: SpKeyFiles, dir: string): SpKey | string {
  let privateKeyPem: string;
  let certPem: string;
  try {
    privateKeyPem = readFileSync(resolve(dir, files.key_file), 'utf8');
  } catch (err) {
    return `cannot read key_file: ${(err as Error).message}`;
  }
  try {
    certPem = readFileSync(resolve(dir, files.cert_file), 'utf8');
  } catch (err) {
    return `cannot read cert_file: ${(err as Error).message}`;
  }
  let privateKey: KeyObject;
  let cert: X509Certificate;
  try {
    privateKey = createPrivateKey(privateKeyPem);
  } catch {
    // The parser's message may quote key material: say only what is wrong.
    return 'key_file is not an unencrypted PEM private key';
  }
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return 'cert_file is not a PEM X.509 certificate';
  }
  if (privateKey.asymmetricKeyType !== 'rsa') return `key_file must be an RSA key (XML Encryption needs RSA), not ${privateKey.asymmetricKeyType}`;
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return `key_file is RSA-${bits}; at least ${MIN_RSA_BITS} bits are required`;
  if (!sameKey(createPublicKey(privateKey), cert.publicKey)) return 'cert_file does not hold the public key of key_file';
  return {
    privateKeyPem,
    privateKey,
    certPem: cert.toString(),
    certBase64: cert.raw.toString('base64'),
    fingerprint256: cert.fingerprint256,
    notAfter: Date.parse(cert.validTo),
  };
}

/** Reads every configured pair. @throws Error naming the first broken entry (config checks report them all before). */
export function readSpKeys(entries: readonly SpKeyFiles[], dir: string): SpKeys | undefined {
  const keys = entries.map((e, i) => {
    const key = readSpKey(e, dir);
    if (typeof key === 'string') throw new Error(`saml.sp_keys[${i}]: ${key}`);
    return key;
  });
  return keys.length ? { signing: keys[0]!, all: keys } : undefined;
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}
