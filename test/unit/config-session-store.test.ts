/**
 * `session.store`, `session.redis`, `session.cache`, `outage_grace`, `previous_secrets` and
 * `admin`: defaults, the ways to reach Redis (exactly one), secrets from env or files, and every
 * mistake reported at its line with its key.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import type { ConfigProblem } from '../../proxy/config/problems.js';
import { configProblems } from '../helpers/config-problems.js';
import { redisSettings } from '../../proxy/store/open-stores.js';

const SECRET = 'test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3';
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Writes a config whose `session:` block (and extra top-level YAML) is given; returns its path. */
function write(session: string, extra = '', files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-cfg-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'policies'));
  writeFileSync(join(dir, 'policies', 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const text = `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: \${SECRET}\n${session}\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\npolicies: ["policies/*.yaml"]\n${extra}`;
  writeFileSync(join(dir, 'gatehouse.yaml'), text);
  return join(dir, 'gatehouse.yaml');
}

function problems(file: string, env: NodeJS.ProcessEnv = {}): ConfigProblem[] {
  return configProblems(file, { SECRET, ...env });
}

describe('session store config', () => {
  test('defaults: memory store, 5 s cache, no outage grace, no admin API', () => {
    const { config } = loadConfig(write(''), { SECRET });
    assert.equal(config.session.store, 'memory');
    assert.deepEqual(config.session.cache, { ttl: 5_000, max_entries: 10_000 });
    assert.equal(config.session.outage_grace, 0);
    assert.deepEqual(config.session.previous_secrets, []);
    assert.deepEqual(config.admin, { groups: [] });
    assert.equal(redisSettings(config.session, '/x'), undefined);
  });

  test('a redis:// URL is enough; the password comes from a file, never inline', () => {
    const file = write('  store: ${REDIS_URL}\n', '', {});
    const { config } = loadConfig(file, { SECRET, REDIS_URL: 'rediss://redis.internal:6380/2' });
    const s = redisSettings(config.session, '/x')!;
    assert.equal(s.url, 'rediss://redis.internal:6380/2');
    assert.equal(s.key_prefix, 'gatehouse:');
    const withPassword = write('  store: redis\n  redis:\n    url: redis://10.0.0.5:6379\n    password_file: redis.pass\n    key_prefix: "ml-prod:"\n    offline_wait: 0s\n', '', { 'redis.pass': 's3cret-from-file\n' });
    const loaded = redisSettings(loadConfig(withPassword, { SECRET }).config.session, '/x')!;
    assert.equal(loaded.password, 's3cret-from-file');
    assert.equal(loaded.key_prefix, 'ml-prod:');
    assert.equal(loaded.offline_wait, 0);
  });

  test('Sentinel and Cluster settings load', () => {
    const sentinel = loadConfig(write('  store: redis\n  redis:\n    sentinels: ["10.0.0.1:26379", "[::1]:26379"]\n    master_name: mymaster\n'), { SECRET }).config;
    assert.deepEqual(sentinel.session.redis?.sentinels, ['10.0.0.1:26379', '[::1]:26379']);
    const cluster = loadConfig(write('  store: redis\n  redis:\n    nodes: ["10.0.0.1:7000", "10.0.0.2:7000"]\n'), { SECRET }).config;
    assert.deepEqual(cluster.session.redis?.nodes, ['10.0.0.1:7000', '10.0.0.2:7000']);
  });

  const wrong: Array<[string, string, string, RegExp]> = [
    ['store: redis without details', '  store: redis\n', 'session.store', /needs session\.redis/],
    ['two ways to reach Redis at once', '  store: redis\n  redis:\n    url: redis://a:1\n    nodes: ["b:2"]\n', 'session.redis', /exactly one of url/],
    ['sentinels without master_name', '  store: redis\n  redis:\n    sentinels: ["a:1"]\n', 'session.redis.master_name', /required with sentinels/],
    ['redis details with the memory store', '  store: memory\n  redis:\n    url: redis://a:1\n', 'session.redis', /store is memory/],
    ['a URL in store and another in redis.url', '  store: redis://a:1\n  redis:\n    url: redis://b:2\n', 'session.redis.url', /already names a URL/],
    ['an http URL as the store', '  store: http://redis:6379\n', 'session.store', /redis:\/\/host:port/],
    ['a sentinel without port', '  store: redis\n  redis:\n    sentinels: ["redis-1"]\n    master_name: m\n', 'session.redis.sentinels[0]', /host:port/],
    ['an unknown key (typo)', '  store: redis://a:1\n  redis:\n    key_prefx: "x:"\n', 'session.redis.key_prefx', /unknown key/],
    ['a short previous secret', '  previous_secrets: ["short"]\n', 'session.previous_secrets[0]', /at least 32/],
    ['a cache TTL without unit', '  cache:\n    ttl: 5\n', 'session.cache.ttl', /duration/],
  ];
  for (const [what, session, key, message] of wrong) {
    test(`refuses ${what}, at its key`, () => {
      const found = problems(write(session));
      assert.ok(found.some((p) => p.key === key && message.test(p.message) && p.line > 0), `${key} ${message}: ${JSON.stringify(found)}`);
    });
  }

  test('groups_seen_file with a Redis store is refused (every instance records into Redis)', () => {
    const file = write('  store: redis://a:1\n');
    writeFileSync(file, readFileSync(file, 'utf8').replace('saml:\n', 'saml:\n  groups_seen_file: seen.json\n'));
    assert.ok(problems(file).some((p) => p.key === 'saml.groups_seen_file' && /kept in Redis/.test(p.message)));
  });

  test('admin tokens: at least 32 characters, from env or files, and the SCIM token differs from the admin token', () => {
    const token = 'x1y2z3'.repeat(7);
    const same = problems(write('', `admin:\n  token: ${token}\n  scim_token: ${token}\n`));
    assert.ok(same.some((p) => p.key === 'admin.scim_token' && /must differ/.test(p.message)));
    assert.ok(problems(write('', 'admin:\n  token: short\n')).some((p) => p.key === 'admin.token' && /at least 32/.test(p.message)));
    const unknown = problems(write('', 'admin:\n  groups: [admins]\n  connections: [okta]\n'));
    assert.ok(unknown.some((p) => p.key === 'admin.connections[0]' && /no connection "okta"/.test(p.message)));
    const fromFile = loadConfig(write('', 'admin:\n  token_file: admin.token\n  groups: [gatehouse-admins]\n', { 'admin.token': `${token}\n` }), { SECRET }).config;
    assert.equal(fromFile.admin.token, token);
    assert.deepEqual(fromFile.admin.groups, ['gatehouse-admins']);
  });
});

