/**
 * `gatehouse sessions` against a Redis store: the command talks to Redis itself (no running
 * Gatehouse needed), reads the admin summary sealed under the secret, and its revocations are
 * announced to running instances. Also: a Redis store reached over TLS (`rediss://` with a
 * private CA in `tls_ca_file`).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ManualClock, systemClock } from '../../proxy/clock.js';
import { RedisSessionStore } from '../../proxy/session/redis-session-store.js';
import { SessionManager } from '../../proxy/session/session-manager.js';
import type { RedisConnection } from '../../proxy/store/redis-connection.js';
import { openTestConnection } from '../helpers/redis-store.js';
import { freePort } from '../helpers/free-port.js';
import { redisSkipReason, startRedis, type RunningRedis } from '../helpers/redis-server.js';

const skip = redisSkipReason();
if (skip && process.env.GATEHOUSE_E2E_REQUIRED === '1') throw new Error(skip);

const SECRET = 'test-only-cli-5e1d9c7b3a2f4068e1d3c5b7a9f0e2d4';
const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);
const MINUTE = 60_000;

/** A config whose sessions live in the test Redis under the `cli:` prefix. */
const configWith = (secret: string, url: string) =>
  `server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: ${secret}\n  store: redis\n  redis:\n    url: ${url}\n    key_prefix: "cli:"\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: http://127.0.0.1:9/md\npolicies: [policies/*.yaml]\n`;

describe('gatehouse sessions with a Redis store', { skip }, () => {
  let redis: RunningRedis;
  let conn: RedisConnection;
  let dir: string;
  before(async () => {
    redis = await startRedis();
    conn = await openTestConnection(redis.url, 'cli:');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-redis-'));
    mkdirSync(join(dir, 'policies'));
    writeFileSync(join(dir, 'policies', 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
    writeFileSync(join(dir, 'gatehouse.yaml'), configWith(SECRET, redis.url));
  });
  after(async () => {
    await conn?.close();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('lists sessions by email and revokes them; a running instance holding one in its cache drops it at once', async () => {
    const settings = { secrets: [SECRET], idleTimeoutMs: 30 * MINUTE, maxLifetimeMs: 60 * MINUTE, cacheTtlMs: MINUTE, cacheMaxEntries: 100, outageGraceMs: 0 };
    const instance = new SessionManager(await RedisSessionStore.open(conn), settings, systemClock);
    const alice = await instance.create({ user: 'alice', email: 'Alice@Example.com', groups: ['ml'], connection: 'lab' }, { nameId: 'alice' });
    const bob = await instance.create({ user: 'bob', email: 'bob@example.com', groups: [], connection: 'lab' }, { nameId: 'bob' });
    assert.ok(await instance.open(alice.token), 'cached in the running instance');
    const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'sessions', ...args, '--config', join(dir, 'gatehouse.yaml')], { cwd: ROOT });
    const listed = JSON.parse((await cli('list', '--json')).stdout) as { sessions: Array<{ id: string; email: string }> };
    assert.deepEqual(listed.sessions.map((s) => s.email).sort(), ['Alice@Example.com', 'bob@example.com']);
    const mine = JSON.parse((await cli('list', '--email', 'alice@example.com', '--json')).stdout) as { sessions: Array<{ id: string }> };
    assert.deepEqual(mine.sessions.map((s) => s.id), [alice.token.split('.')[0]]);
    const table = (await cli('list')).stdout;
    assert.match(table, /^ID\s+USER\s+EMAIL/m);
    assert.ok(!table.includes(alice.token.split('.')[1]!), 'the cookie key is never printed');
    const revoked = await cli('revoke', '--email', 'ALICE@example.com');
    assert.match(revoked.stdout, /revoked 1 session/);
    const deadline = Date.now() + 1000;
    while ((await instance.open(alice.token)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await instance.open(alice.token), undefined, 'the running instance refuses it within a second');
    assert.ok(await instance.open(bob.token));
    assert.match((await cli('revoke', '--id', bob.token.split('.')[0]!)).stdout, /revoked 1 session/);
    assert.match((await cli('list')).stdout, /no live sessions/);
  });

  test('an unreachable Redis is one clear line and exit 1, no stack trace', async () => {
    const gone = join(dir, 'gone.yaml');
    writeFileSync(gone, configWith(SECRET, 'redis://127.0.0.1:1'));
    await assert.rejects(
      run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'sessions', 'list', '--config', gone], { cwd: ROOT }),
      (err: { code?: number; stderr?: string }) => err.code === 1 && /^gatehouse: cannot reach the session store \(redis:\/\/127\.0\.0\.1:1\)/.test(err.stderr ?? '') && !/\n\s+at /.test(err.stderr ?? ''),
    );
  });

  test('a wrong secret lists nothing readable and revokes nothing by email (the index is keyed by the secret)', async () => {
    const settings = { secrets: [SECRET], idleTimeoutMs: 30 * MINUTE, maxLifetimeMs: 60 * MINUTE, cacheTtlMs: 0, cacheMaxEntries: 100, outageGraceMs: 0 };
    const instance = new SessionManager(await RedisSessionStore.open(conn), settings, new ManualClock(Date.now()));
    const carol = await instance.create({ user: 'carol', email: 'carol@example.com', groups: [], connection: 'lab' }, { nameId: 'carol' });
    const other = join(dir, 'other.yaml');
    writeFileSync(other, configWith('test-only-another-secret-0123456789abcdef', redis.url));
    const out = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'sessions', 'revoke', '--email', 'carol@example.com', '--config', other], { cwd: ROOT });
    assert.match(out.stdout, /revoked 0 session/);
    assert.ok(await instance.open(carol.token));
  });
});

describe('Redis over TLS (rediss:// with a private CA)', { skip }, () => {
  let redis: RunningRedis | undefined;
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-redis-tls-'));
    const ssl = (...args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
    };
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=Test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'redis.key', '-out', 'redis.csr');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'redis.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'san.ext', '-out', 'redis.crt');
    const tlsPort = await freePort();
    redis = await startRedis({ args: ['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'redis.crt'), '--tls-key-file', join(dir, 'redis.key'), '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'no'] });
    (redis as RunningRedis & { tlsPort?: number }).tlsPort = tlsPort;
  });
  after(async () => {
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('connects with the private CA, and refuses a server the CA did not sign', async () => {
    const port = (redis as RunningRedis & { tlsPort: number }).tlsPort;
    const conn = await openTestConnection(`rediss://127.0.0.1:${port}`, 'tls:', { tls_ca_file: 'ca.crt', dir });
    try {
      const store = await RedisSessionStore.open(conn);
      await store.create('abcdefghijklmnopqrstuv', 'sealed', 10_000, Date.now() + 10_000, []);
      assert.equal(await store.get('abcdefghijklmnopqrstuv'), 'sealed');
    } finally {
      await conn.close();
    }
    // Without the private CA the server's certificate is not trusted: no connection, no start.
    await assert.rejects(openTestConnection(`rediss://127.0.0.1:${port}`, 'tls:', { connect_timeout: 1_500 }), /cannot reach the session store/);
  });
});
