/** `gatehouse check` warns about SP certificates that expire within 30 days (time to roll a key). */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { runCheck } from '../../proxy/cli/check.js';
import { makeTestKeyPair } from '../helpers/test-keys.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const longLived = makeTestKeyPair({ commonName: 'sp-long.gatehouse.test', days: 365 });
const expiring = makeTestKeyPair({ commonName: 'sp-soon.gatehouse.test', days: 10 });

async function check(keys: { privateKeyPem: string; certPem: string }[], strict = false) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-check-spkeys-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  keys.forEach((k, i) => {
    writeFileSync(join(dir, `${i}.key`), k.privateKeyPem);
    writeFileSync(join(dir, `${i}.crt`), k.certPem);
  });
  const list = keys.map((_, i) => `    - { key_file: ${i}.key, cert_file: ${i}.crt }`).join('\n');
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3\nsaml:\n  sp_keys:\n${list}\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\npolicies: ["policies/*.yaml"]\n`,
  );
  const out: string[] = [];
  const err: string[] = [];
  const sink = (to: string[]) => ({ write: (c: string) => (to.push(String(c)), true) }) as unknown as NodeJS.WritableStream;
  const code = await runCheck(join(dir, 'gatehouse.yaml'), sink(out), sink(err), { strict, offline: true });
  return { code, out: out.join(''), err: err.join('') };
}

describe('gatehouse check: SP certificate expiry', () => {
  test('a certificate that expires in 10 days is a warning at its line; exit 0, 1 with --strict', async () => {
    const r = await check([longLived, expiring]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /:8 saml\.sp_keys\[1\]: warning: SP certificate [0-9A-F:]+ expires on \S+ \(in (9|10) day\(s\)\)/);
    assert.doesNotMatch(r.err, /sp_keys\[0\]/, 'the long-lived key is not mentioned');
    assert.match(r.out, /1 warning\(s\)/);
    assert.equal((await check([longLived, expiring], true)).code, 1);
  });

  test('control: a certificate valid for a year: no warning', async () => {
    const r = await check([longLived]);
    assert.equal(r.code, 0);
    assert.equal(r.err, '');
  });
});
