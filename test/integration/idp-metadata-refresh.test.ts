import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../proxy/clock.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { IdpSource } from '../../proxy/saml/idp-source.js';
import { idpMetadataXml } from '../helpers/gatehouse.js';
import { captureLogs } from '../helpers/log-capture.js';
import { metadataXml, signMetadata } from '../helpers/metadata-signer.js';
import { ATTACKER_KEYS, IDP_KEYS, makeTestKeyPair } from '../helpers/test-keys.js';

test('IdP metadata from a URL: key rollover picked up on refresh; a failed refresh keeps the last good copy and is logged', async () => {
  let body = idpMetadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: [IDP_KEYS.certBase64] });
  let status = 200;
  const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/xml' }).end(body));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`;
  const logs = captureLogs();
  const source = await IdpSource.open({ url }, { intervalMs: 50, log: logs.log });
  const certs = () => source.current.signingCerts.length;
  try {
    assert.equal(certs(), 1);
    source.startRefresh();
    body = idpMetadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: [IDP_KEYS.certBase64, ATTACKER_KEYS.certBase64] });
    for (let i = 0; i < 40 && certs() !== 2; i++) await sleep(25);
    assert.equal(certs(), 2, 'rollover: both certificates trusted after a refresh');
    status = 500;
    for (let i = 0; i < 40 && !logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED').length; i++) await sleep(25);
    assert.ok(logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED').length > 0, 'the failure is logged with a code');
    assert.equal(certs(), 2, 'the last good copy is kept');
    status = 200;
    body = '<not-metadata/>';
    await sleep(150);
    assert.equal(source.current.entityId, 'https://idp.example/md', 'invalid metadata never replaces a good copy');
  } finally {
    source.stop();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

test('startup without usable metadata fails: no IdP, no logins', async () => {
  await assert.rejects(IdpSource.open({ url: 'http://127.0.0.1:9/md' }));
});

/** A loopback server whose answer the test changes. */
async function metadataServer(first: string) {
  const s = { body: first, status: 200, hits: 0 };
  const server = createServer((_req, res) => {
    s.hits++;
    res.writeHead(s.status, { 'content-type': 'application/samlmetadata+xml' }).end(s.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(s, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/md`,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  });
}

const ENTITY = 'https://idp.example/md';
const SSO = 'https://idp.example/sso';
const mdWith = (o: { certs?: string[]; validUntil?: string; cacheDuration?: string } = {}) =>
  metadataXml({ entityId: ENTITY, ssoUrl: SSO, certBase64s: o.certs ?? [IDP_KEYS.certBase64], validUntil: o.validUntil, cacheDuration: o.cacheDuration });
const iso = (ms: number) => new Date(ms).toISOString();

test('refresh: metadata whose validUntil has passed is refused and the last good copy kept (replay of stale metadata)', async () => {
  const srv = await metadataServer(mdWith());
  const logs = captureLogs();
  const source = await IdpSource.open({ url: srv.url }, { connection: 'lab', log: logs.log });
  try {
    srv.body = mdWith({ certs: [ATTACKER_KEYS.certBase64], validUntil: iso(Date.now() - 60_000) });
    const state = await source.refresh();
    assert.equal(state.lastError?.reason, 'metadata-expired');
    assert.equal(state.status, 'stale');
    assert.deepEqual(source.current.certFingerprints, [new X509Certificate(IDP_KEYS.certPem).fingerprint256]);
    assert.equal(logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED' && l.reason === 'metadata-expired' && l.connection === 'lab').length, 1);
  } finally {
    source.stop();
    await srv.close();
  }
});

test('refresh: metadata naming another entity ID is refused (IdP takeover at the same URL)', async () => {
  const srv = await metadataServer(mdWith());
  const source = await IdpSource.open({ url: srv.url });
  try {
    srv.body = metadataXml({ entityId: 'https://evil.example/md', ssoUrl: SSO, certBase64s: [ATTACKER_KEYS.certBase64] });
    assert.equal((await source.refresh()).lastError?.reason, 'metadata-entity-id-changed');
    assert.equal(source.current.entityId, ENTITY);
  } finally {
    source.stop();
    await srv.close();
  }
});

test('startup refuses metadata already past its validUntil', async () => {
  const srv = await metadataServer(mdWith({ validUntil: iso(Date.now() - 1000) }));
  try {
    await assert.rejects(IdpSource.open({ url: srv.url }), (e) => isGatehouseError(e) && e.reason === 'metadata-expired');
  } finally {
    await srv.close();
  }
});

test('the copy in use passes validUntil with no fresh copy: expired, logged once, until a refresh succeeds', async () => {
  const clock = new ManualClock(Date.now());
  const srv = await metadataServer(mdWith({ validUntil: iso(clock.now() + 3_600_000) }));
  const logs = captureLogs();
  const source = await IdpSource.open({ url: srv.url }, { connection: 'lab', clock, log: logs.log });
  try {
    assert.equal(source.expired(), false);
    assert.equal(source.state().status, 'ok');
    clock.advance(3_600_000);
    srv.status = 503;
    assert.equal((await source.refresh()).lastError?.reason, 'metadata-http-503');
    assert.equal(source.expired(), true);
    assert.equal(source.state().status, 'expired');
    source.expired();
    assert.equal(logs.find((l) => l.code === 'IDP_METADATA_EXPIRED' && l.connection === 'lab').length, 1, 'logged once, not per login');
    srv.status = 200;
    srv.body = mdWith({ validUntil: iso(clock.now() + 3_600_000) });
    const state = await source.refresh();
    assert.equal(state.status, 'ok');
    assert.equal(state.lastError, null);
    assert.equal(source.expired(), false);
  } finally {
    source.stop();
    await srv.close();
  }
});

test('cacheDuration brings the next refresh closer, never closer than a minute', async () => {
  const clock = new ManualClock(Date.now());
  const srv = await metadataServer(mdWith({ cacheDuration: 'PT2M' }));
  const source = await IdpSource.open({ url: srv.url }, { intervalMs: 3_600_000, clock, random: () => 0 });
  try {
    source.startRefresh();
    assert.equal(source.state().nextRefreshAt, iso(clock.now() + 120_000));
    assert.equal(source.state().cacheDurationMs, 120_000);
    srv.body = mdWith({ cacheDuration: 'PT1S' });
    await source.refresh();
    assert.equal(source.state().nextRefreshAt, iso(clock.now() + 60_000), 'a tiny cacheDuration cannot hammer the IdP');
    srv.status = 500;
    await source.refresh();
    assert.equal(source.state().nextRefreshAt, iso(clock.now() + 30_000), 'first retry after a failure');
    await source.refresh();
    assert.equal(source.state().nextRefreshAt, iso(clock.now() + 60_000), 'backoff doubles (capped by the normal delay)');
    assert.equal(srv.hits, 4, 'no fetch other than the ones asked for');
  } finally {
    source.stop();
    await srv.close();
  }
});

test('signature pinned: refreshes to tampered, unsigned or foreign-signed metadata keep the last good copy; a signed rollover is taken', async () => {
  const pin = { fingerprints: [new X509Certificate(IDP_KEYS.certPem).fingerprint256] };
  const srv = await metadataServer(mdWith());
  const logs = captureLogs();
  await assert.rejects(IdpSource.open({ url: srv.url }, { pin }), (e) => isGatehouseError(e) && e.reason === 'metadata-unsigned', 'startup fails on unsigned metadata');
  srv.body = signMetadata(mdWith());
  const source = await IdpSource.open({ url: srv.url }, { connection: 'lab', pin, log: logs.log });
  try {
    assert.equal(source.state().signature, 'verified');
    const cases: [string, string][] = [
      [signMetadata(mdWith()).replace(SSO, 'https://evil.example/sso'), 'metadata-signature-invalid'],
      [mdWith({ certs: [ATTACKER_KEYS.certBase64] }), 'metadata-unsigned'],
      [signMetadata(mdWith({ certs: [ATTACKER_KEYS.certBase64] }), { keys: ATTACKER_KEYS }), 'metadata-signer-not-pinned'],
    ];
    for (const [body, reason] of cases) {
      srv.body = body;
      assert.equal((await source.refresh()).lastError?.reason, reason);
      assert.equal(source.current.signingCerts.length, 1);
      assert.equal(source.current.sso.redirect, SSO);
      assert.doesNotMatch(source.current.signingCerts[0]!, new RegExp(ATTACKER_KEYS.certBase64.slice(10, 40).replace(/[+/]/g, '.')));
    }
    assert.equal(logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED').length, 3);
    srv.body = signMetadata(mdWith({ certs: [IDP_KEYS.certBase64, ATTACKER_KEYS.certBase64] }));
    assert.equal((await source.refresh()).lastError, null);
    assert.equal(source.current.signingCerts.length, 2);
  } finally {
    source.stop();
    await srv.close();
  }
});

test('metadata rollback: with a pinned signature, a replayed older signed copy (earlier validUntil, retired signing cert) is refused; a newer one is taken', async () => {
  const retired = makeTestKeyPair({ commonName: 'retired-idp-signing.test' });
  const current = makeTestKeyPair({ commonName: 'new-idp-signing.test' });
  const signed = (id: string, cert: string, validUntil?: string) => signMetadata(metadataXml({ entityId: ENTITY, ssoUrl: SSO, id, certBase64s: [cert], validUntil }));
  const year = 365 * 24 * 3600_000;
  const old = signed('_v1', retired.certBase64, iso(Date.now() + year));
  const fresh = signed('_v2', current.certBase64, iso(Date.now() + 2 * year));
  const currentFp = new X509Certificate(current.certPem).fingerprint256;
  const dir = mkdtempSync(join(tmpdir(), 'gh-md-rollback-'));
  const file = join(dir, 'idp.xml');
  const logs = captureLogs();
  try {
    // Control: without a pin there is no signature to replay; the older copy is simply the file.
    writeFileSync(file, fresh);
    const unpinned = await IdpSource.open({ file }, { connection: 'lab' });
    writeFileSync(file, old);
    assert.equal((await unpinned.refresh()).lastError, null);
    assert.deepEqual(unpinned.current.certFingerprints, [new X509Certificate(retired.certPem).fingerprint256]);
    unpinned.stop();

    writeFileSync(file, fresh);
    const source = await IdpSource.open({ file }, { connection: 'lab', pin: { certs: [IDP_KEYS.certPem] }, log: logs.log });
    writeFileSync(file, old); // what an attacker on the path, or a stale cache, serves instead
    const state = await source.refresh();
    assert.equal(state.lastError?.reason, 'metadata-older-than-current');
    assert.equal(state.status, 'stale');
    assert.deepEqual(source.current.certFingerprints, [currentFp], 'the last good copy is kept');
    assert.equal(state.validUntil, iso(Date.parse(/validUntil="([^"]+)"/.exec(fresh)![1]!)));
    assert.equal(logs.find((l) => l.code === 'IDP_METADATA_REFRESH_FAILED' && l.reason === 'metadata-older-than-current' && l.connection === 'lab').length, 1);
    // A signed copy without validUntil cannot be dated: refused while the current one has one.
    writeFileSync(file, signed('_v0', retired.certBase64));
    assert.equal((await source.refresh()).lastError?.reason, 'metadata-older-than-current');
    // The same copy read again, and a newer one, are taken.
    writeFileSync(file, fresh);
    assert.equal((await source.refresh()).lastError, null);
    const newer = signed('_v3', IDP_KEYS.certBase64, iso(Date.now() + 3 * year));
    writeFileSync(file, newer);
    assert.equal((await source.refresh()).lastError, null);
    assert.deepEqual(source.current.certFingerprints, [new X509Certificate(IDP_KEYS.certPem).fingerprint256]);
    source.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a metadata file is re-read on refresh too, and refused when unsigned while pinned', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gh-mdfile-'));
  const file = join(dir, 'idp.xml');
  try {
    writeFileSync(file, signMetadata(mdWith()));
    const source = await IdpSource.open({ file }, { pin: { certs: [IDP_KEYS.certPem] } });
    writeFileSync(file, signMetadata(mdWith({ certs: [IDP_KEYS.certBase64, ATTACKER_KEYS.certBase64] })));
    assert.equal((await source.refresh()).certs.length, 2);
    writeFileSync(file, mdWith());
    assert.equal((await source.refresh()).lastError?.reason, 'metadata-unsigned');
    assert.equal(source.current.signingCerts.length, 2);
    source.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('certificates expiring within 30 days (or expired) are warned about at startup and at each refresh', async () => {
  const soon = makeTestKeyPair({ commonName: 'expiring-soon.idp.test', days: 10 });
  const gone = makeTestKeyPair({ commonName: 'expired.idp.test', notBefore: new Date(Date.now() - 40 * 86_400_000), days: 20 });
  const srv = await metadataServer(mdWith({ certs: [IDP_KEYS.certBase64, soon.certBase64, gone.certBase64] }));
  const logs = captureLogs();
  const source = await IdpSource.open({ url: srv.url }, { connection: 'lab', log: logs.log });
  const warned = () => logs.find((l) => l.code === 'IDP_CERT_EXPIRING');
  try {
    const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
    assert.deepEqual(
      warned().map((l) => [l.connection, l.fingerprint, l.days_left]),
      [['lab', fp(soon.certPem), 9], ['lab', fp(gone.certPem), -21]],
    );
    assert.equal(warned()[0]!.not_after, new Date(new X509Certificate(soon.certPem).validTo).toISOString());
    await source.refresh();
    assert.equal(warned().length, 4, 'warned again at the refresh');
  } finally {
    source.stop();
    await srv.close();
  }
});
