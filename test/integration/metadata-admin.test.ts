/**
 * The IdP metadata lifecycle through a running Gatehouse: the admin API's connection list and
 * on-demand refresh, `gatehouse metadata`, a signing-key rollover without downtime across a
 * refresh (pinned metadata signature), and logins failing closed once the metadata in use
 * passes its validUntil (readyz shows it), recovering at the next good refresh.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { runMetadata } from '../../proxy/cli/metadata.js';
import { startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { metadataXml, signMetadata } from '../helpers/metadata-signer.js';
import { genuineResponseXml, postResponse, startSpLogin, TEST_IDP } from '../helpers/sp-login.js';
import { IDP_KEYS, makeTestKeyPair } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const ADMIN_TOKEN = `admin-${'f1e2d3c4'.repeat(5)}`;
const NEW_KEYS = makeTestKeyPair({ commonName: 'idp-next.gatehouse.test' });
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const ROOT = new URL('../../', import.meta.url).pathname;
const run = promisify(execFile);

const idp = { body: '', status: 200 };
const signedMd = (certs: string[], validUntil?: string) => signMetadata(metadataXml({ entityId: TEST_IDP.entityId, ssoUrl: TEST_IDP.ssoUrl, certBase64s: certs, validUntil }));
let server: ReturnType<typeof createServer>;
let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  idp.body = signedMd([IDP_KEYS.certBase64]);
  server = createServer((_req, res) => res.writeHead(idp.status, { 'content-type': 'application/samlmetadata+xml' }).end(idp.body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    config: { admin: { token: ADMIN_TOKEN } },
    connections: [{ id: 'lab', idp_metadata_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`, idp_metadata_fingerprint: fp(IDP_KEYS.certPem) }],
    routes: [{ name: 'app', path: '/', upstream: upstream.url, allow: [{ authenticated: true }] }],
  });
});
after(async () => {
  await gh?.stop();
  await upstream?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

const admin = (path: string, method = 'GET', token = ADMIN_TOKEN) => fetch(`${gh.url}/.gatehouse/admin/${path}`, { method, headers: { authorization: `Bearer ${token}` } });
const refresh = async () => (await (await admin('connections/lab/metadata/refresh', 'POST')).json()) as { refreshed: boolean; metadata: Record<string, unknown> & { certs: { fingerprint: string }[]; last_error: { reason: string } | null } };
/** Signs in through the real SP-initiated flow with a response signed by `keys`; the ACS status. */
const loginWith = async (keys: { privateKeyPem: string; certPem: string }) => {
  const login = await startSpLogin(gh.url, 'lab');
  const res = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { keys }));
  await res.arrayBuffer();
  return res.status;
};

describe('admin API: connections and their IdP metadata', () => {
  test('GET connections lists the metadata state: entity, certificates with notAfter, signature verified', async () => {
    const res = await admin('connections');
    assert.equal(res.status, 200);
    const body = (await res.json()) as { connections: { id: string; metadata: Record<string, unknown> }[] };
    assert.equal(body.connections.length, 1);
    const m = body.connections[0]!.metadata;
    assert.equal(body.connections[0]!.id, 'lab');
    assert.equal(m.status, 'ok');
    assert.equal(m.entity_id, TEST_IDP.entityId);
    assert.equal(m.signature, 'verified');
    assert.deepEqual(m.certs, [{ fingerprint: fp(IDP_KEYS.certPem), not_after: new Date(new X509Certificate(IDP_KEYS.certPem).validTo).toISOString() }]);
    assert.equal(m.last_error, null);
    assert.ok(typeof m.next_refresh_at === 'string');
  });

  test('without the admin token: refused, nothing refreshed', async () => {
    assert.equal((await fetch(`${gh.url}/.gatehouse/admin/connections`)).status, 401);
    assert.equal((await admin('connections/lab/metadata/refresh', 'POST', `wrong-${'x'.repeat(40)}`)).status, 401);
    assert.equal((await admin('connections/nope/metadata/refresh', 'POST')).status, 404);
    assert.equal((await admin('connections/lab/metadata/refresh', 'GET')).status, 405);
  });

  test('rollover without downtime: the new key works while the old is listed, across a refresh; then the old is dropped', async () => {
    assert.equal(await loginWith(IDP_KEYS), 303, 'control: the current key signs users in');
    assert.notEqual(await loginWith(NEW_KEYS), 303, 'the next key is not trusted before the IdP publishes it');
    idp.body = signedMd([IDP_KEYS.certBase64, NEW_KEYS.certBase64]);
    const both = await refresh();
    assert.equal(both.refreshed, true);
    assert.equal((both as { announced?: boolean }).announced, false, 'memory store: no other instance to tell');
    assert.deepEqual(both.metadata.certs.map((c) => c.fingerprint), [fp(IDP_KEYS.certPem), fp(NEW_KEYS.certPem)]);
    assert.equal(await loginWith(NEW_KEYS), 303, 'a response signed with the new key works while the old is also listed');
    assert.equal(await loginWith(IDP_KEYS), 303, 'and the old key still works');
    idp.body = signedMd([NEW_KEYS.certBase64]);
    assert.equal((await refresh()).refreshed, true);
    assert.equal(await loginWith(NEW_KEYS), 303);
    assert.equal(await loginWith(IDP_KEYS), 403, 'the retired key no longer signs anyone in');
  });

  test('a refresh that moves the IdP SSO URL sends the next logins there', async () => {
    const moved = 'http://127.0.0.1:9/sso-moved';
    idp.body = signMetadata(metadataXml({ entityId: TEST_IDP.entityId, ssoUrl: moved, certBase64s: [NEW_KEYS.certBase64] }));
    assert.equal((await refresh()).refreshed, true);
    const res = await fetch(`${gh.url}/.gatehouse/saml/lab/login?rd=%2F`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.ok(res.headers.get('location')!.startsWith(`${moved}?SAMLRequest=`), res.headers.get('location')!);
    idp.body = signedMd([NEW_KEYS.certBase64]);
    assert.equal((await refresh()).refreshed, true);
  });

  test('a refresh to metadata signed by an unpinned key keeps the last good copy and says why', async () => {
    const attacker = makeTestKeyPair({ commonName: 'attacker.evil.test' });
    idp.body = signMetadata(metadataXml({ entityId: TEST_IDP.entityId, ssoUrl: TEST_IDP.ssoUrl, certBase64s: [attacker.certBase64] }), { keys: attacker });
    const r = await refresh();
    assert.equal(r.refreshed, false);
    assert.equal(r.metadata.status, 'stale');
    assert.equal(r.metadata.last_error?.reason, 'metadata-signer-not-pinned');
    assert.deepEqual(r.metadata.certs.map((c) => c.fingerprint), [fp(NEW_KEYS.certPem)]);
    assert.equal(await loginWith(attacker), 403);
    assert.equal(gh.logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED' && l.connection === 'lab' && l.reason === 'metadata-signer-not-pinned').length, 1);
  });

  test('gatehouse metadata refresh / list ask the running instance (--instance, --admin-token-file)', async () => {
    idp.body = signedMd([NEW_KEYS.certBase64]);
    const tokenFile = join(gh.dir, 'admin-token');
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`);
    let out = '';
    const sink = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    const config = join(gh.dir, 'gatehouse.yaml');
    assert.equal(await runMetadata('/nonexistent.yaml', { action: 'refresh', connection: 'lab', instance: gh.url, adminTokenFile: tokenFile, json: false }, sink, sink), 0);
    assert.match(out, /^refreshed\nlab: ok {2}entity https:\/\/idp\.test\.example\/metadata {2}signature verified/);
    assert.match(out, new RegExp(`cert ${fp(NEW_KEYS.certPem)}`));
    out = '';
    assert.equal(await runMetadata(config, { action: 'list', json: true }, sink, sink), 0, 'instance and token from the config');
    assert.equal((JSON.parse(out) as { connections: unknown[] }).connections.length, 1);
    out = '';
    idp.status = 500;
    assert.equal(await runMetadata(config, { action: 'refresh', connection: 'lab', json: false }, sink, sink), 1, 'a failed refresh exits 1');
    assert.match(out, /refresh FAILED \(last good copy kept\)[\s\S]*last error .*: metadata-http-500/);
    idp.status = 200;
    out = '';
    assert.equal(await runMetadata(config, { action: 'refresh', connection: 'nope', json: false }, sink, sink), 1);
    assert.match(out, /admin API answered 404/);
    const cli = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'proxy/main.ts'), 'metadata', 'refresh', 'lab', '--instance', gh.url, '--admin-token-file', tokenFile, '--json'], { cwd: ROOT });
    assert.equal((JSON.parse(cli.stdout) as { refreshed: boolean }).refreshed, true);
  });

  test('fail closed: once the metadata in use passes validUntil, logins through the connection are refused; readyz shows it; a good refresh restores them', async () => {
    idp.body = signedMd([NEW_KEYS.certBase64], new Date(Date.now() + 1500).toISOString());
    assert.equal((await refresh()).refreshed, true);
    assert.equal(await loginWith(NEW_KEYS), 303, 'control: valid metadata, login works');
    const login = await startSpLogin(gh.url, 'lab');
    idp.status = 503;
    await sleep(1600);
    const start = await fetch(`${gh.url}/.gatehouse/saml/lab/login?rd=%2F`, { redirect: 'manual', headers: { accept: 'application/json' } });
    assert.equal(start.status, 503);
    assert.equal(((await start.json()) as { error: { code: string } }).error.code, 'IDP_METADATA_EXPIRED');
    const acs = await postResponse(login, genuineResponseXml(login, 'alice@example.com', { keys: NEW_KEYS }));
    assert.equal(acs.status, 403, 'a response for a login started before expiry is refused too');
    assert.equal(acs.headers.get('set-cookie')?.includes('gatehouse_session=') ?? false, false, 'no session');
    assert.ok(gh.logs.find((l) => l.reason === 'idp-metadata-expired' && l.code === 'SAML_LOGIN_FAILED').length >= 1);
    assert.equal(gh.logs.find((l) => l.code === 'IDP_METADATA_EXPIRED' && l.connection === 'lab' && l.level === 'error').length, 1);
    const readyRes = await fetch(`${gh.url}/.gatehouse/readyz`);
    assert.equal(readyRes.status, 200, 'one expired connection does not take the instance out of rotation');
    const ready = (await readyRes.json()) as { metadata: Record<string, string> };
    assert.deepEqual(ready.metadata, { lab: 'expired' });
    idp.status = 200;
    // Under a pinned signature a copy without validUntil cannot replace one that had it (it could
    // be a replayed older copy: metadata-older-than-current); the IdP's next copy carries a later one.
    idp.body = signedMd([NEW_KEYS.certBase64]);
    assert.equal((await refresh()).refreshed, false, 'a copy without validUntil is refused after one that had it');
    idp.body = signedMd([NEW_KEYS.certBase64], new Date(Date.now() + 3_600_000).toISOString());
    assert.equal((await refresh()).metadata.status, 'ok');
    assert.equal(await loginWith(NEW_KEYS), 303, 'logins work again after a good refresh');
    assert.deepEqual(((await (await fetch(`${gh.url}/.gatehouse/readyz`)).json()) as { metadata: unknown }).metadata, { lab: 'ok' });
  });
});
