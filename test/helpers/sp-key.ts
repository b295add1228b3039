import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSpKey, type SpKey } from '../../proxy/config/sp-keys.js';
import type { TestKeyPair } from './test-keys.js';

/** A test key pair as Gatehouse reads `saml.sp_keys` (through the same files and checks). */
export function spKeyOf(pair: TestKeyPair): SpKey {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-spkey-'));
  try {
    writeFileSync(join(dir, 'k'), pair.privateKeyPem);
    writeFileSync(join(dir, 'c'), pair.certPem);
    const key = readSpKey({ key_file: 'k', cert_file: 'c' }, dir);
    if (typeof key === 'string') throw new Error(key);
    return key;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
