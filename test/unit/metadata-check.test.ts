/** `gatehouse check` reads each IdP's metadata as serve would: fetch, signature, validUntil, expiring certificates. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCheck, type CheckOptions } from '../../proxy/cli/check.js';
import { metadataXml, signMetadata } from '../helpers/metadata-signer.js';
import { IDP_KEYS, makeTestKeyPair } from '../helpers/test-keys.js';

const SECRET = 'k3Rw9Tz1Lm5Vb7Nc2Hd8Jf4Gs6Qy0Px-u8Wq2Ea';
const SOON = makeTestKeyPair({ commonName: 'check-expiring.idp.test', days: 12 });
const md = (certs: string[], validUntil?: string) => metadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: certs, validUntil });
const served = { body: md([IDP_KEYS.certBase64]), status: 200, hang: false };
let server: Server;
let base = '';
const root = mkdtempSync(join(tmpdir(), 'gh-md-check-'));
let n = 0;

before(async () => {
  server = createServer((_req, res) => {
    if (served.hang) return; // never answers: the timeout must end the wait
    res.writeHead(served.status).end(served.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
});

/** Runs check on a config whose one connection has `conn` (YAML flow map body) and `files`. */
async function check(conn: string, files: Record<string, string> = {}, opts: CheckOptions = {}) {
  const dir = join(root, String(++n));
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'p.yaml'), 'routes:\n  - { name: r, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  writeFileSync(join(dir, 'g.yaml'), `server: { public_url: "http://127.0.0.1:4180" }\nsession: { secret: "${SECRET}" }\nsaml:\n  connections:\n    - { id: lab, ${conn} }\npolicies: ["p.yaml"]\n`);
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => ({ write: (c: string) => (f(String(c)), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCheck(join(dir, 'g.yaml'), sink((s) => (out += s)), sink((s) => (err += s)), opts);
  return { code, out, err };
}

describe('gatehouse check: IdP metadata', () => {
  test('a metadata URL is fetched; a certificate expiring within 30 days is a warning with fingerprint and days left', async () => {
    served.body = md([IDP_KEYS.certBase64, SOON.certBase64]);
    const r = await check(`idp_metadata_url: "${base}/md"`);
    assert.equal(r.code, 0, r.err);
    const fp = new X509Certificate(SOON.certPem).fingerprint256;
    assert.match(r.err, new RegExp(`g\\.yaml:5 saml\\.connections\\[0\\]\\.idp_metadata_url: warning: IdP signing certificate ${fp} expires on \\S+ \\(11 day\\(s\\) left\\)`));
    assert.doesNotMatch(r.err, new RegExp(new X509Certificate(IDP_KEYS.certPem).fingerprint256), 'a long-lived certificate is not warned about');
    assert.match(r.out, /1 warning\(s\)/);
    assert.equal((await check(`idp_metadata_url: "${base}/md"`, {}, { strict: true })).code, 1, '--strict fails on it');
  });

  test('an expired certificate is warned about too', async () => {
    const gone = makeTestKeyPair({ commonName: 'check-expired.idp.test', notBefore: new Date(Date.now() - 10 * 86_400_000), days: 5 });
    const r = await check('idp_metadata_file: idp.xml', { 'idp.xml': md([IDP_KEYS.certBase64, gone.certBase64]) });
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: IdP signing certificate [0-9A-F:]+ expired on /);
  });

  test('an unreachable metadata URL is a problem', async () => {
    const r = await check('idp_metadata_url: "http://127.0.0.1:9/md"');
    assert.equal(r.code, 1);
    assert.match(r.err, /idp_metadata_url: not usable IdP metadata: .*ECONNREFUSED/);
  });

  test('a metadata URL answering 500 is a problem', async () => {
    served.status = 500;
    try {
      const r = await check(`idp_metadata_url: "${base}/md"`);
      assert.equal(r.code, 1);
      assert.match(r.err, /not usable IdP metadata: metadata-http-500/);
    } finally {
      served.status = 200;
    }
  });

  test('a metadata URL that never answers is a problem once the timeout passes', async () => {
    served.hang = true;
    try {
      const started = Date.now();
      const r = await check(`idp_metadata_url: "${base}/md"`, {}, { fetchTimeoutMs: 300 });
      assert.equal(r.code, 1);
      assert.match(r.err, /not usable IdP metadata/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      served.hang = false;
    }
  });

  test('--offline does not fetch URLs', async () => {
    const r = await check('idp_metadata_url: "http://127.0.0.1:9/md"', {}, { offline: true });
    assert.equal(r.code, 0, r.err);
  });

  test('metadata past its validUntil is a problem', async () => {
    const r = await check('idp_metadata_file: idp.xml', { 'idp.xml': md([IDP_KEYS.certBase64], '2020-01-01T00:00:00Z') });
    assert.equal(r.code, 1);
    assert.match(r.err, /not usable IdP metadata: metadata-expired \(validUntil 2020-01-01T00:00:00.000Z\)/);
  });

  test('pinned signer: unsigned metadata is a problem; signed metadata passes', async () => {
    const pinned = `idp_metadata_file: idp.xml, idp_metadata_signing_cert_file: signer.pem`;
    const unsigned = await check(pinned, { 'idp.xml': md([IDP_KEYS.certBase64]), 'signer.pem': IDP_KEYS.certPem });
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.err, /idp_metadata_file: not usable IdP metadata: metadata-unsigned/);
    const signed = await check(pinned, { 'idp.xml': signMetadata(md([IDP_KEYS.certBase64])), 'signer.pem': IDP_KEYS.certPem });
    assert.equal(signed.code, 0, signed.err);
  });

  test('rollback: a pinned signature on metadata without validUntil is a warning (an older signed copy cannot be told apart); with validUntil it is not', async () => {
    const pinned = `idp_metadata_file: idp.xml, idp_metadata_signing_cert_file: signer.pem`;
    const bare = await check(pinned, { 'idp.xml': signMetadata(md([IDP_KEYS.certBase64])), 'signer.pem': IDP_KEYS.certPem });
    assert.equal(bare.code, 0, bare.err);
    assert.match(bare.err, /idp_metadata_signing_cert_file: warning: the pinned metadata carries no validUntil/);
    const dated = await check(pinned, { 'idp.xml': signMetadata(md([IDP_KEYS.certBase64], '2099-01-01T00:00:00Z')), 'signer.pem': IDP_KEYS.certPem });
    assert.equal(dated.code, 0, dated.err);
    assert.doesNotMatch(dated.err, /validUntil/);
    const unpinned = await check('idp_metadata_file: idp.xml', { 'idp.xml': md([IDP_KEYS.certBase64]) });
    assert.doesNotMatch(unpinned.err, /validUntil/, 'without a pin there is nothing to roll back past');
  });

  test('metadata over plain http (not loopback) without a signature pin is a warning; with a pin it is not', async () => {
    const plain = await check('idp_metadata_url: "http://idp.example.com/md"', {}, { offline: true });
    assert.equal(plain.code, 0, plain.err);
    assert.match(plain.err, /idp_metadata_url: warning: metadata over plain http without a signature pin/);
    const fp = new X509Certificate(IDP_KEYS.certPem).fingerprint256;
    const pinned = await check(`idp_metadata_url: "http://idp.example.com/md", idp_metadata_fingerprint: "${fp}"`, {}, { offline: true });
    assert.equal(pinned.err, '');
    const https = await check('idp_metadata_url: "https://idp.example.com/md"', {}, { offline: true });
    assert.equal(https.err, '');
  });

  test('config: a bad fingerprint, both pins, or a missing signer file are config problems', async () => {
    const bad = await check('idp_metadata_url: "https://idp.example.com/md", idp_metadata_fingerprint: "AB:CD"', {}, { offline: true });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /idp_metadata_fingerprint: .*SHA-256 fingerprint/);
    const fp = new X509Certificate(IDP_KEYS.certPem).fingerprint256;
    const both = await check(`idp_metadata_url: "https://idp.example.com/md", idp_metadata_fingerprint: ["${fp}"], idp_metadata_signing_cert_file: s.pem`, { 's.pem': IDP_KEYS.certPem }, { offline: true });
    assert.match(both.err, /set only one of idp_metadata_signing_cert_file, idp_metadata_fingerprint/);
    const missing = await check('idp_metadata_url: "https://idp.example.com/md", idp_metadata_signing_cert_file: nope.pem', {}, { offline: true });
    assert.match(missing.err, /idp_metadata_signing_cert_file: file not found: nope\.pem/);
  });
});
