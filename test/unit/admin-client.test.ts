/** Which running instance the admin-API commands (`audit saml`, `sessions`, `metadata`) ask, and with which token. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { resolveAdminTarget } from '../../proxy/cli/admin-client.js';

const TOKEN = 't'.repeat(40);
const dir = mkdtempSync(join(tmpdir(), 'gh-admin-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const config = (host: string, token: string | null = TOKEN) => () => ({ server: { listen: { host, port: 4180 } }, admin: { token: token ?? undefined, groups: [] } }) as never;

test('the config fills in: server.listen and admin.token', () => {
  assert.deepEqual(resolveAdminTarget({}, config('127.0.0.1')), { base: 'http://127.0.0.1:4180/.gatehouse/admin/', token: TOKEN });
  assert.equal((resolveAdminTarget({}, config('::1')) as { base: string }).base, 'http://[::1]:4180/.gatehouse/admin/');
});

test('a wildcard listen address is asked on loopback', () => {
  assert.equal((resolveAdminTarget({}, config('0.0.0.0')) as { base: string }).base, 'http://127.0.0.1:4180/.gatehouse/admin/');
  assert.equal((resolveAdminTarget({}, config('::')) as { base: string }).base, 'http://[::1]:4180/.gatehouse/admin/');
});

test('--instance and --admin-token-file together read no config', () => {
  const file = join(dir, 'token');
  writeFileSync(file, `  ${TOKEN}\n`);
  const noConfig = () => {
    throw new Error('config read');
  };
  assert.deepEqual(resolveAdminTarget({ instance: 'https://gh-2.internal:8443/ignored/path', adminTokenFile: file }, noConfig), { base: 'https://gh-2.internal:8443/.gatehouse/admin/', token: TOKEN });
});

test('no token (none configured, or an empty token file) is a usage message naming the fix', () => {
  assert.match(resolveAdminTarget({}, config('127.0.0.1', null)) as string, /^no admin token: set admin\.token .*--admin-token-file FILE$/);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  assert.match(resolveAdminTarget({ adminTokenFile: empty }, config('127.0.0.1')) as string, /^no admin token/);
});

test('--instance must be an http(s) URL', () => {
  assert.match(resolveAdminTarget({ instance: 'file:///etc/passwd' }, config('127.0.0.1')) as string, /--instance must be an http\(s\) URL/);
  assert.match(resolveAdminTarget({ instance: 'gh-2:4180' }, config('127.0.0.1')) as string, /--instance must be an http\(s\) URL/);
});
