/**
 * The HTTP-Redirect binding's signature (SAML bindings 3.4.4.1) and the logout message parser,
 * without a server: signatures are checked over the parameters exactly as received, and every
 * shape an attacker could use to slip an unsigned or re-signed message through is refused.
 */
import { X509Certificate } from 'node:crypto';
import assert from 'node:assert/strict';
import { createPrivateKey, sign } from 'node:crypto';
import { constants, deflateRawSync } from 'node:zlib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadConfig } from '../../proxy/config/load.js';
import { ConfigError } from '../../proxy/config/problems.js';
import { isGatehouseError } from '../../proxy/errors.js';
import { parseLogoutMessage } from '../../proxy/saml/logout-messages.js';
import { signedRedirectUrl, verifyRedirect } from '../../proxy/saml/redirect-binding.js';
import { readSpKeys } from '../../proxy/config/sp-keys.js';
import { logoutRequestXml, readRedirect, redirectQuery } from '../helpers/saml-logout-idp.js';
import { ATTACKER_KEYS, IDP_KEYS, SP_KEYS } from '../helpers/test-keys.js';

const CERTS = [new X509Certificate(IDP_KEYS.certPem).publicKey];
const xml = logoutRequestXml({ issuer: 'https://idp.example/', destination: 'https://gh.example/slo', nameId: 'alice@example.com' }).xml;

function refused(fn: () => unknown, reason: string): void {
  assert.throws(fn, (err: unknown) => isGatehouseError(err, 'SAML_LOGOUT_FAILED') && err.reason === reason);
}

describe('verifyRedirect', () => {
  test('control: a query signed by the IdP verifies and yields the message and RelayState', () => {
    const m = verifyRedirect(redirectQuery('SAMLRequest', xml, { relayState: 'a b/c' }), CERTS);
    assert.equal(m.kind, 'SAMLRequest');
    assert.equal(m.xml, xml);
    assert.equal(m.relayState, 'a b/c');
  });

  test('the signature is checked over the bytes as received: lowercase percent-escapes an IdP chose still verify', () => {
    // Sign a query whose escapes are lowercase (as some encoders write them); re-encoding it would change the bytes.
    const base = redirectQuery('SAMLRequest', xml, { keys: null, relayState: 'x/y' }).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase());
    const q = `${base}&SigAlg=${encodeURIComponent('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256').toLowerCase()}`;
    const sig = sign('sha256', Buffer.from(q), createPrivateKey(IDP_KEYS.privateKeyPem)).toString('base64');
    assert.equal(verifyRedirect(`${q}&Signature=${encodeURIComponent(sig)}`, CERTS).xml, xml);
  });

  test('unsigned query refused', () => refused(() => verifyRedirect(redirectQuery('SAMLRequest', xml, { keys: null }), CERTS), 'redirect-unsigned'));
  test('Signature without SigAlg refused', () => {
    const q = redirectQuery('SAMLRequest', xml).replace(/&SigAlg=[^&]*/, '');
    refused(() => verifyRedirect(q, CERTS), 'redirect-unsigned');
  });
  test('signed by an attacker key refused', () => refused(() => verifyRedirect(redirectQuery('SAMLRequest', xml, { keys: ATTACKER_KEYS }), CERTS), 'redirect-signature-invalid'));
  test('SHA-1 SigAlg refused', () => refused(() => verifyRedirect(redirectQuery('SAMLRequest', xml, { alg: 'sha1' }), CERTS), 'redirect-weak-or-unknown-sig-alg'));
  test('RelayState added after signing refused', () => {
    const q = redirectQuery('SAMLRequest', xml);
    const i = q.indexOf('&SigAlg=');
    refused(() => verifyRedirect(`${q.slice(0, i)}&RelayState=evil${q.slice(i)}`, CERTS), 'redirect-signature-invalid');
  });
  test('a parameter named like ours (xSAMLRequest) is not taken for it', () => {
    const q = redirectQuery('SAMLRequest', xml);
    refused(() => verifyRedirect(`x${q}`, CERTS), 'redirect-not-one-message');
  });
  test('both SAMLRequest and SAMLResponse refused', () => {
    refused(() => verifyRedirect(`${redirectQuery('SAMLRequest', xml)}&SAMLResponse=x`, CERTS), 'redirect-not-one-message');
  });
  test('a deflate bomb is refused before it is inflated whole', () => {
    const bomb = deflateRawSync(Buffer.alloc(4 * 1024 * 1024, 0x61), { level: constants.Z_BEST_COMPRESSION }).toString('base64');
    const q = `SAMLRequest=${encodeURIComponent(bomb)}&SigAlg=${encodeURIComponent('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')}`;
    const sig = sign('sha256', Buffer.from(q), createPrivateKey(IDP_KEYS.privateKeyPem)).toString('base64');
    refused(() => verifyRedirect(`${q}&Signature=${encodeURIComponent(sig)}`, CERTS), 'redirect-not-deflate');
  });
});

test('signedRedirectUrl: our signature verifies independently, RSA-SHA256, parameters in the order of section 3.4.4.1', () => {
  const keys = readSpKeys([{ key_file: 'k', cert_file: 'c' }], writeKeys())!;
  const url = signedRedirectUrl('https://idp.example/slo?x=1', 'SAMLResponse', xml, 'rs', keys.signing.privateKey);
  assert.match(url, /^https:\/\/idp\.example\/slo\?x=1&SAMLResponse=[^&]+&RelayState=rs&SigAlg=[^&]+&Signature=[^&]+$/);
  const read = readRedirect(url, SP_KEYS.certPem);
  assert.ok(read.signatureValid);
  assert.equal(read.xml, xml);
});

describe('parseLogoutMessage', () => {
  test('a comment inside the NameID (to split what c14n and the reader see) is refused', () => {
    refused(() => parseLogoutMessage(xml.replace('alice@example.com', 'alice@exa<!-- x -->mple.com')), 'xml-hidden-node-present');
  });
  test('a DTD is refused', () => refused(() => parseLogoutMessage(`<!DOCTYPE x [<!ENTITY e "a">]>${xml}`), 'xml-dtd-present'));
  test('two Issuers are refused', () => refused(() => parseLogoutMessage(xml.replace('</saml:Issuer>', '</saml:Issuer><saml:Issuer>x</saml:Issuer>')), 'duplicate-issuer'));
  test('control: fields read', () => {
    const m = parseLogoutMessage(logoutRequestXml({ issuer: 'i', destination: 'd', nameId: 'n', sessionIndexes: ['s1', 's2'] }).xml);
    assert.equal(m.kind, 'LogoutRequest');
    assert.deepEqual(m.subject?.sessionIndexes, ['s1', 's2']);
    assert.equal(m.issuer, 'i');
    assert.equal(m.destination, 'd');
  });
});

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function writeKeys(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-slo-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'k'), SP_KEYS.privateKeyPem);
  writeFileSync(join(dir, 'c'), SP_KEYS.certPem);
  return dir;
}

test('config: single_logout: true without saml.sp_keys is reported at its key', () => {
  const dir = writeKeys();
  writeFileSync(join(dir, 'r.yaml'), 'routes:\n  - { name: app, path: /, upstream: "http://127.0.0.1:9", allow: [ { authenticated: true } ] }\n');
  writeFileSync(
    join(dir, 'gatehouse.yaml'),
    'server:\n  public_url: http://127.0.0.1:4180\nsession:\n  secret: test-only-4f9c1e7a2b8d6350a1c9e2f7b4d8a6c3\nsaml:\n  connections:\n    - id: lab\n      idp_metadata_url: https://idp.example.com/metadata\n      single_logout: true\n      logout_redirect: //evil.example\npolicies: ["r.yaml"]\n',
  );
  let problems: { key: string; message: string }[] = [];
  try {
    loadConfig(join(dir, 'gatehouse.yaml'), {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  assert.ok(problems.some((p) => p.key === 'saml.connections[0].single_logout' && /sp_keys/.test(p.message)), JSON.stringify(problems));
  assert.ok(problems.some((p) => p.key.includes('logout_redirect')), 'a protocol-relative logout_redirect (open redirect) is refused');
});
