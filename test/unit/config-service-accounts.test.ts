/** `service_accounts:` in the config: names, groups, max_ttl bounds, and names that would clash. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import { buildServiceAccounts } from '../../proxy/tokens/service-accounts.js';
import { configProblems } from '../helpers/config-problems.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A config with `accounts` as the service_accounts block (YAML, indented two spaces) and optional extras. */
function write(accounts: string, opts: { connection?: string; allow?: string; demoUser?: string } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sa-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), `routes:\n  - name: app\n    path: /\n    upstream: "http://127.0.0.1:9"\n    allow: ${opts.allow ?? '[ { groups: [ml] } ]'}\n`);
  const conn = opts.demoUser
    ? `    - id: ${opts.connection ?? 'demo'}\n      demo_idp:\n        users:\n          - { name: ${opts.demoUser}, email: x@example.com }\n`
    : `    - id: ${opts.connection ?? 'lab'}\n      idp_metadata_url: https://idp.example.com/metadata\n`;
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    `${opts.demoUser ? 'demo: true\n' : ''}server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\nsaml:\n  connections:\n${conn}policies: ["policies/*.yaml"]\n${accounts ? `service_accounts:\n${accounts}` : ''}`,
  );
  return join(dir, 'gatehouse.yaml');
}

const keysOf = (file: string) => configProblems(file, { SECRET }).map((p) => `${p.key}: ${p.message}`);

describe('service_accounts config', () => {
  test('a valid account loads with defaults (max_ttl 30d, no description) and becomes a frozen identity', () => {
    const file = write('  ci-bot:\n    groups: [ml, data]\n  nightly-etl:\n    groups: [data]\n    max_ttl: 2h\n    description: ETL job\n');
    assert.deepEqual(keysOf(file), []);
    const accounts = buildServiceAccounts(loadConfig(file, { SECRET }).config);
    const ci = accounts.get('ci-bot')!;
    assert.equal(ci.maxTtlMs, 30 * 86_400_000);
    assert.deepEqual(ci.identity, { user: 'ci-bot', connection: 'service-account', groups: ['ml', 'data'] });
    assert.ok(Object.isFrozen(ci.identity) && Object.isFrozen(ci.identity.groups));
    assert.equal(accounts.get('nightly-etl')!.maxTtlMs, 7_200_000);
  });

  test('no service_accounts: an empty table (the key is optional)', () => {
    assert.equal(buildServiceAccounts(loadConfig(write(''), { SECRET }).config).size, 0);
  });

  test('account names: lowercase, starting with a letter, at most 63 characters', () => {
    for (const bad of ['CI-Bot', '9bot', '-bot', 'ci_bot', 'ci.bot', `a${'b'.repeat(63)}`]) {
      const problems = keysOf(write(`  "${bad}":\n    groups: [ml]\n`));
      assert.ok(problems.some((p) => p.includes('service account name')), `${bad}: ${problems.join('; ')}`);
    }
  });

  test('a typo in a key is an error, not ignored (strict objects)', () => {
    const problems = keysOf(write('  ci-bot:\n    group: [ml]\n'));
    assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot') && p.includes('group')), problems.join('; '));
  });

  test('max_ttl bounds: below 1m or above 366d refused; not a duration refused', () => {
    for (const ttl of ['30s', '367d', '30']) {
      const problems = keysOf(write(`  ci-bot:\n    groups: [ml]\n    max_ttl: ${ttl}\n`));
      assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot.max_ttl')), `${ttl}: ${problems.join('; ')}`);
    }
    assert.deepEqual(keysOf(write('  ci-bot:\n    groups: [ml]\n    max_ttl: 366d\n')), []);
    assert.deepEqual(keysOf(write('  ci-bot:\n    groups: [ml]\n    max_ttl: 1m\n')), []);
  });

  test('group names: empty, padded, with control characters or listed twice are refused', () => {
    const problems = keysOf(write('  ci-bot:\n    groups: ["", " ml", "ml\\u0007", data, data]\n'));
    assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot.groups[0]')), problems.join('; '));
    assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot.groups[1]') && p.includes('spaces')), problems.join('; '));
    assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot.groups[2]') && p.includes('control')), problems.join('; '));
    assert.ok(problems.some((p) => p.startsWith('service_accounts.ci-bot.groups[4]') && p.includes('twice')), problems.join('; '));
  });

  test('impersonation by connection name: a SAML connection called service-account is refused beside service accounts', () => {
    const problems = keysOf(write('  ci-bot:\n    groups: [ml]\n', { connection: 'service-account' }));
    assert.ok(problems.some((p) => p.startsWith('saml.connections[0].id') && p.includes('reserved')), problems.join('; '));
    assert.deepEqual(keysOf(write('', { connection: 'service-account' })), [], 'without service accounts the name is free');
  });

  test('impersonation by user name: a demo user named like a service account is refused', () => {
    const problems = keysOf(write('  ci-bot:\n    groups: [ml]\n', { demoUser: 'ci-bot' }));
    assert.ok(problems.some((p) => p.includes('demo_idp.users[0].name') && p.includes('also a service account')), problems.join('; '));
  });

  test('policies may name the service-account connection only when service accounts exist', () => {
    const allow = '[ { connections: [service-account] } ]';
    assert.deepEqual(keysOf(write('  ci-bot:\n    groups: [ml]\n', { allow })), []);
    assert.ok(keysOf(write('', { allow })).some((p) => p.includes('no connection "service-account"')));
  });

  test('the commented example in config.example.yaml loads once uncommented', () => {
    const root = (p: string) => new URL(`../../${p}`, import.meta.url).pathname;
    const lines = readFileSync(root('config.example.yaml'), 'utf8').split('\n');
    const from = lines.indexOf('# service_accounts:');
    assert.ok(from > 0, 'the example shows service accounts');
    for (let i = from; i < lines.length && lines[i]!.startsWith('# '); i++) lines[i] = lines[i]!.slice(2);
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sa-example-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'gatehouse.yaml'), lines.join('\n').replace('"policies/*.yaml"', JSON.stringify(root('policies/*.yaml'))));
    const { config } = loadConfig(join(dir, 'gatehouse.yaml'), { GATEHOUSE_SESSION_SECRET: 'x9Kq2v7Lm4Rt8Wz1Yb5Nc3Hd6Jf0Gs2Pq' });
    assert.deepEqual(Object.keys(config.service_accounts), ['ci-deploy']);
    assert.equal(config.service_accounts['ci-deploy']!.max_ttl, 30 * 86_400_000);
  });
});
