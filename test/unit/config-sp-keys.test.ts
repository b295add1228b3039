/**
 * `saml.sp_keys`: Gatehouse's own SAML keys. Each pair must read, match and be RSA-2048 or more;
 * every mistake is reported at its line with its key, and no key material reaches the message.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { configProblems } from '../helpers/config-problems.js';
import { readSpKeys } from '../../proxy/config/sp-keys.js';
import { makeTestKeyPair } from '../helpers/test-keys.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const current = makeTestKeyPair({ commonName: 'gatehouse-sp-current' });
const next = makeTestKeyPair({ commonName: 'gatehouse-sp-next' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

function write(spKeys: string, connExtra = ''): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-spkeys-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  const files: Record<string, string> = { 'cur.key': current.privateKeyPem, 'cur.crt': current.certPem, 'next.key': next.privateKeyPem, 'next.crt': next.certPem, 'ec.key': ec, 'small.key': small, 'junk.key': 'not a key' };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\nsaml:\n${spKeys}\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\n${connExtra}policies: ["policies/*.yaml"]\n`,
  );
  return join(dir, 'gatehouse.yaml');
}

function problems(file: string): ConfigProblem[] {
  return configProblems(file, { SECRET });
}

const pair = (k: string, c: string) => `    - { key_file: ${k}, cert_file: ${c} }`;

describe('saml.sp_keys', () => {
  test('absent: no SP keys', () => {
    const loaded = loadConfig(write(''), { SECRET });
    assert.deepEqual(loaded.config.saml.sp_keys, []);
    assert.equal(readSpKeys(loaded.config.saml.sp_keys, loaded.dir), undefined);
  });

  test('two pairs for a rollover: the first signs, both are kept in order', () => {
    const loaded = loadConfig(write(`  sp_keys:\n${pair('cur.key', 'cur.crt')}\n${pair('next.key', 'next.crt')}`), { SECRET });
    const keys = readSpKeys(loaded.config.saml.sp_keys, loaded.dir)!;
    assert.equal(keys.signing.certBase64, current.certBase64);
    assert.deepEqual(keys.all.map((k) => k.certBase64), [current.certBase64, next.certBase64]);
    assert.ok(keys.signing.notAfter > Date.now());
  });

  test('every broken pair is reported at once, at its line, without key material', () => {
    const file = write(
      `  sp_keys:\n${pair('cur.key', 'next.crt')}\n${pair('ec.key', 'cur.crt')}`,
    );
    const found = problems(file);
    assert.deepEqual(found.map((p) => [p.key, p.line]), [['saml.sp_keys[0]', 7], ['saml.sp_keys[1]', 8]]);
    assert.match(found[0]!.message, /does not hold the public key/);
    assert.match(found[1]!.message, /must be an RSA key/);
  });

  for (const [name, yaml, message] of [
    ['a 1024-bit RSA key', pair('small.key', 'cur.crt'), /at least 2048 bits/],
    ['a file that is not a key', pair('junk.key', 'cur.crt'), /not an unencrypted PEM private key/],
    ['a key file that does not exist', pair('missing.key', 'cur.crt'), /cannot read key_file/],
    ['the same key twice', `${pair('cur.key', 'cur.crt')}\n${pair('cur.key', 'cur.crt')}`, /listed twice/],
    ['three keys', `${pair('cur.key', 'cur.crt')}\n${pair('next.key', 'next.crt')}\n${pair('next.key', 'next.crt')}`, /at most two keys/],
  ] as const) {
    test(`refused: ${name}`, () => {
      const found = problems(write(`  sp_keys:\n${yaml}`));
      assert.ok(found.some((p) => p.key.startsWith('saml.sp_keys') && message.test(p.message)), JSON.stringify(found));
      assert.ok(!found.some((p) => p.message.includes('PRIVATE KEY')), 'no key material in messages');
    });
  }
});

describe('what needs saml.sp_keys', () => {
  test('sign_requests and encryption.require without sp_keys: reported at their lines', () => {
    const found = problems(write('', '      sign_requests: true\n      encryption: { require: true }\n'));
    assert.deepEqual(found.map((p) => [p.key, p.line]), [['saml.connections[0].sign_requests', 10], ['saml.connections[0].encryption.require', 11]]);
  });

  test('defaults: requests signed with keys, unsigned without; encryption optional, GCM only', () => {
    const withKeys = loadConfig(write(`  sp_keys:\n${pair('cur.key', 'cur.crt')}`), { SECRET }).config.saml.connections[0]!;
    assert.equal(withKeys.sign_requests, undefined, 'derived from sp_keys at startup');
    assert.deepEqual(withKeys.encryption, { require: false, allow_cbc: false });
    const problemsFound = problems(write('', '      encryption: { allow_rsa1_5: true }\n'));
    assert.ok(problemsFound.some((p) => p.key.includes('encryption')), 'rsa-1_5 has no opt-in: an unknown key is an error');
  });
});
