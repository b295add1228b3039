/** `saml.audit`: defaults, `0s` turns recording off, strict keys and bounds reported at their key. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { configProblems } from '../helpers/config-problems.js';

const SECRET = 'test-only-7a1c9e2f4b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function write(audit: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-audit-cfg-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  const text = `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: ${SECRET}\nsaml:\n${audit}  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\npolicies: ["policies/*.yaml"]\n`;
  writeFileSync(join(dir, 'gatehouse.yaml'), text);
  return join(dir, 'gatehouse.yaml');
}

function problems(file: string): ConfigProblem[] {
  return configProblems(file, {});
}

describe('saml.audit config', () => {
  test('defaults: 7 days, 16 KiB of XML, 10 000 entries', () => {
    assert.deepEqual(loadConfig(write(''), {}).config.saml.audit, { retention: 7 * 86_400_000, max_xml_bytes: 16_384, max_entries: 10_000 });
  });

  test('retention 0s turns it off; max_xml_bytes 0 keeps no XML', () => {
    const a = loadConfig(write('  audit:\n    retention: 0s\n    max_xml_bytes: 0\n    max_entries: 500\n'), {}).config.saml.audit;
    assert.deepEqual(a, { retention: 0, max_xml_bytes: 0, max_entries: 500 });
  });

  for (const [what, yaml, key] of [
    ['an unknown key (a typo must not pass silently)', '  audit:\n    retension: 1d\n', 'saml.audit'],
    ['a retention without a unit', '  audit:\n    retention: 7\n', 'saml.audit.retention'],
    ['max_xml_bytes over 1 MiB', '  audit:\n    max_xml_bytes: 2000000\n', 'saml.audit.max_xml_bytes'],
    ['max_entries under 100', '  audit:\n    max_entries: 5\n', 'saml.audit.max_entries'],
  ] as const) {
    test(`refuses ${what}, at its key`, () => {
      const found = problems(write(yaml));
      assert.ok(found.some((p) => p.key.startsWith(key) && p.line > 0), `${key}: ${JSON.stringify(found)}`);
    });
  }
});
