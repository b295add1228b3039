import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError } from '../../proxy/config/problems.js';

const root = (p: string) => new URL(`../../${p}`, import.meta.url).pathname;
const env = { GATEHOUSE_SESSION_SECRET: 'x9Kq2v7Lm4Rt8Wz1Yb5Nc3Hd6Jf0Gs2Pq' };

describe('shipped examples stay valid', () => {
  test('config.example.yaml and every file in policies/ pass the loader', () => {
    const loaded = loadConfig(root('config.example.yaml'), env);
    assert.ok(loaded.policies.length >= 3);
  });

  test('uncommenting the second IdP in config.example.yaml gives a second connection and leaves the first one whole', () => {
    const text = readFileSync(root('config.example.yaml'), 'utf8');
    const lines = text.split('\n');
    const from = lines.findIndex((l) => l.startsWith('    # - id: partner'));
    assert.ok(from > 0, 'the example shows a second connection');
    let to = from;
    while (lines[to + 1]?.startsWith('    #   ')) to++;
    const next = lines.slice(to + 1).find((l) => l.trim() !== '');
    assert.ok(!/^ {6}\S/.test(next ?? ''), `no key of the first connection follows the commented block (it would move to the second): ${next}`);
    for (let i = from; i <= to; i++) lines[i] = lines[i]!.replace('    # ', '    ');
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-example-'));
    try {
      writeFileSync(join(dir, 'gatehouse.yaml'), lines.join('\n').replace('"policies/*.yaml"', JSON.stringify(root('policies/*.yaml'))));
      const { config } = loadConfig(join(dir, 'gatehouse.yaml'), env);
      assert.deepEqual(config.saml.connections.map((c) => c.id), ['lab', 'partner']);
      const [lab, partner] = config.saml.connections;
      assert.equal(partner!.provider, 'entra');
      assert.equal(lab!.encryption.require, false, "the first connection keeps its own keys");
      assert.equal(partner!.unmapped_groups, 'drop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('config.example.yaml without the secret in the environment is refused, naming the variable', () => {
    assert.throws(() => loadConfig(root('config.example.yaml'), {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.problems.some((p) => p.key === 'session.secret' && /GATEHOUSE_SESSION_SECRET/.test(p.message)));
      return true;
    });
  });

  test('the demo config (npm start) passes the loader and says demo: true', () => {
    const pkg = JSON.parse(readFileSync(root('package.json'), 'utf8')) as { scripts: { start: string } };
    const file = /--config (\S+)/.exec(pkg.scripts.start)?.[1];
    assert.equal(file, 'demo/config.yaml', 'npm start runs the demo config');
    const loaded = loadConfig(root(file), {});
    assert.equal(loaded.config.demo, true);
  });

  test('no example carries an inline secret', () => {
    const text = readFileSync(root('config.example.yaml'), 'utf8');
    assert.match(text, /secret: "\$\{GATEHOUSE_SESSION_SECRET\}"/);
    assert.doesNotMatch(readFileSync(root('demo/config.yaml'), 'utf8'), /^\s*secret:/m);
  });

  test('every example policy file starts with a header comment saying what it grants and why', () => {
    for (const name of ['jupyter', 'tf-serving', 'prefect']) {
      const text = readFileSync(root(`policies/${name}.yaml`), 'utf8');
      assert.match(text, /^# .+\n# Grants: .+/m, name);
      assert.match(text, /Why: /, name);
    }
  });
});
