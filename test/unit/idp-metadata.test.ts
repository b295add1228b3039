import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { runCheck } from '../../proxy/cli/check.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { parseIdpMetadata } from '../../proxy/saml/idp-metadata.js';
import { idpMetadataXml } from '../helpers/gatehouse.js';
import { ATTACKER_KEYS, IDP_KEYS } from '../helpers/test-keys.js';

const good = idpMetadataXml({ entityId: 'https://idp.example/md', ssoUrl: 'https://idp.example/sso', certBase64s: [IDP_KEYS.certBase64, ATTACKER_KEYS.certBase64] });
const reason = (xml: string) => {
  try {
    parseIdpMetadata(xml);
    return 'ok';
  } catch (err) {
    return isGatehouseError(err) ? err.reason : String(err);
  }
};

describe('IdP metadata', () => {
  test('reads the entity ID, the Redirect SSO URL and every signing certificate (rollover)', () => {
    const md = parseIdpMetadata(good);
    assert.equal(md.entityId, 'https://idp.example/md');
    assert.equal(md.sso.redirect, 'https://idp.example/sso');
    assert.equal(md.signingCerts.length, 2);
    assert.match(md.signingCerts[0]!, /BEGIN CERTIFICATE/);
    assert.ok(md.certsExpireAt.every((t) => t > Date.now()));
  });

  test('an encryption-only key is not trusted for signatures', () => {
    const xml = good.replace('use="signing"', 'use="encryption"');
    assert.equal(parseIdpMetadata(xml).signingCerts.length, 1);
  });

  const broken: [string, string, string][] = [
    ['XXE in metadata', `<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${good.replace('<?xml version="1.0"?>', '')}`, 'xml-dtd-present'],
    ['no signing certificate', good.replace(/<md:KeyDescriptor[\s\S]*?<\/md:KeyDescriptor>/g, ''), 'metadata-no-signing-certificate'],
    ['no Redirect SSO endpoint', good.replace('bindings:HTTP-Redirect', 'bindings:SOAP'), 'metadata-no-redirect-sso'],
    ['not metadata', '<html/>', 'metadata-not-entity-descriptor'],
    ['garbage certificate', good.replace(IDP_KEYS.certBase64, 'AAAA'), 'metadata-bad-certificate'],
    ['two IdPs in one aggregate', `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">${good.replace('<?xml version="1.0"?>', '')}${good.replace('<?xml version="1.0"?>', '')}</md:EntitiesDescriptor>`, 'metadata-not-exactly-one-idp'],
  ];
  for (const [name, xml, why] of broken) test(`refused: ${name}`, () => assert.equal(reason(xml), why));
});

describe('gatehouse check reads metadata files too', () => {
  test('an unusable idp_metadata_file is a problem with its key, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gh-md-'));
    const env = process.env.GATEHOUSE_SESSION_SECRET;
    try {
      writeFileSync(join(dir, 'idp.xml'), '<html/>');
      writeFileSync(join(dir, 'p.yaml'), 'routes:\n  - { name: r, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
      writeFileSync(join(dir, 'g.yaml'), 'server: { public_url: "http://127.0.0.1:4180" }\nsession: { secret: "${GATEHOUSE_SESSION_SECRET}" }\nsaml: { connections: [ { id: lab, idp_metadata_file: idp.xml } ] }\npolicies: ["p.yaml"]\n');
      process.env.GATEHOUSE_SESSION_SECRET = 'p4Xq8Rw2Lm6Tz0Vb3Nc7Hd1Jf5Gs9KyQ2';
      let text = '';
      const sink = new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) });
      assert.equal(await runCheck(join(dir, 'g.yaml'), sink, sink), 1);
      assert.match(text, /saml\.connections\[0\]\.idp_metadata_file: not usable IdP metadata: metadata-not-entity-descriptor/);
    } finally {
      if (env === undefined) delete process.env.GATEHOUSE_SESSION_SECRET;
      else process.env.GATEHOUSE_SESSION_SECRET = env;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
