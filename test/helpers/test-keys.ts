/**
 * Test-only RSA key pairs with self-signed X.509 certificates, made with the `openssl` CLI.
 *
 * Test code only: keys are generated unencrypted in a temporary directory that is removed at once.
 * `openssl ca -selfsign` is used (rather than `req -x509`) because it is the only way OpenSSL 3.0
 * and LibreSSL both accept to set an explicit notBefore date.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A private key and the self-signed certificate for its public key, all PEM or base64. */
export interface TestKeyPair {
  /** PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  readonly privateKeyPem: string;
  /** X.509 certificate PEM (`-----BEGIN CERTIFICATE-----`). */
  readonly certPem: string;
  /** The certificate's DER as one base64 line, as found in metadata and `ds:X509Certificate`. */
  readonly certBase64: string;
}

/** Options for {@link makeTestKeyPair}. */
export interface TestKeyPairOptions {
  /** Subject and issuer CN. Default `gatehouse-test`. */
  commonName?: string;
  /** Validity in days counted from `notBefore`. Default 3650. */
  days?: number;
  /** Start of validity. Default: five minutes ago (tolerates small clock skew). */
  notBefore?: Date;
  /** Generate a new pair even if one with the same options is cached (and do not cache it). */
  fresh?: boolean;
}

const cache = new Map<string, TestKeyPair>();

/**
 * Returns an RSA-2048 key pair with a self-signed SHA-256 certificate.
 * Pairs are cached per (commonName, days, notBefore) within the process unless `fresh` is set,
 * so repeated calls with the same options are free.
 */
export function makeTestKeyPair(opts: TestKeyPairOptions = {}): TestKeyPair {
  const commonName = opts.commonName ?? 'gatehouse-test';
  const days = opts.days ?? 3650;
  const key = `${commonName}\u0000${days}\u0000${opts.notBefore?.toISOString() ?? ''}`;
  const cached = opts.fresh ? undefined : cache.get(key);
  if (cached) return cached;
  const notBefore = opts.notBefore ?? new Date(Date.now() - 5 * 60_000);
  const pair = generateWithOpenssl(commonName, notBefore, days);
  if (!opts.fresh) cache.set(key, pair);
  return pair;
}

function generateWithOpenssl(commonName: string, notBefore: Date, days: number): TestKeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-keys-'));
  try {
    const f = (name: string): string => join(dir, name);
    writeFileSync(f('index.txt'), '');
    writeFileSync(f('serial'), `${randomBytes(8).toString('hex').replace(/^./, '4')}\n`);
    writeFileSync(f('ca.cnf'), caConfig(dir));
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', f('key.pem')]);
    openssl(['req', '-new', '-utf8', '-key', f('key.pem'), '-subj', subject(commonName), '-out', f('csr.pem')]);
    const notAfter = new Date(notBefore.getTime() + days * 86_400_000);
    openssl(['ca', '-batch', '-selfsign', '-notext', '-utf8', '-config', f('ca.cnf'),
      '-keyfile', f('key.pem'), '-in', f('csr.pem'), '-out', f('cert.pem'),
      '-startdate', asn1Time(notBefore), '-enddate', asn1Time(notAfter)]);
    return toPair(readFileSync(f('key.pem'), 'utf8'), readFileSync(f('cert.pem'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function caConfig(dir: string): string {
  return [
    '[ ca ]', 'default_ca = test_ca',
    '[ test_ca ]',
    `database = ${join(dir, 'index.txt')}`, `new_certs_dir = ${dir}`, `serial = ${join(dir, 'serial')}`,
    'default_md = sha256', 'policy = test_policy', 'unique_subject = no', 'email_in_dn = no',
    'x509_extensions = test_ext',
    '[ test_policy ]', 'commonName = supplied',
    '[ test_ext ]', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature',
    'subjectKeyIdentifier = hash', '',
  ].join('\n');
}

/** `-subj` syntax: `/CN=value`, with `/`, `+`, `=` and `\` escaped by a backslash. */
function subject(commonName: string): string {
  return `/CN=${commonName.replace(/[\\/+=]/g, (c) => `\\${c}`)}`;
}

/** UTCTime (YYMMDDHHMMSSZ) until 2049 as RFC 5280 section 4.1.2.5 requires, GeneralizedTime after. */
function asn1Time(d: Date): string {
  const iso = d.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return d.getUTCFullYear() < 2050 ? iso.slice(2) : iso;
}

function toPair(privateKeyPem: string, certPem: string): TestKeyPair {
  const certBase64 = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return Object.freeze({ privateKeyPem, certPem, certBase64 });
}

/** The legitimate IdP's signing key pair. */
export const IDP_KEYS: TestKeyPair = makeTestKeyPair({ commonName: 'idp.gatehouse.test' });

/** A different key pair an attacker controls: signatures made with it must never be trusted. */
export const ATTACKER_KEYS: TestKeyPair = makeTestKeyPair({ commonName: 'attacker.evil.test' });

/** The service provider's (Gatehouse's) own key pair, for signed AuthnRequests and metadata. */
export const SP_KEYS: TestKeyPair = makeTestKeyPair({ commonName: 'sp.gatehouse.test' });
