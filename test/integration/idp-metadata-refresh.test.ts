import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IdpSource } from '../../proxy/saml/idp-source.js';
import { idpMetadataXml } from '../helpers/gatehouse.js';
import { captureLogs } from '../helpers/log-capture.js';
import { ATTACKER_KEYS, IDP_KEYS } from '../helpers/test-keys.js';

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
