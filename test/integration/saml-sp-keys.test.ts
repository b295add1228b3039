/**
 * Gatehouse's own SAML keys at the ACS and the login start: signed AuthnRequests, encrypted
 * assertions (algorithms checked before decryption, every SP key decrypts, downgrade refused),
 * all against responses the test IdP signs and encrypts with xml-encryption (not our code).
 */
import assert from 'node:assert/strict';
import { constants, createCipheriv, createVerify, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { jarFetch, type CookieJar } from '../helpers/cookie-jar.js';
import { idpMetadataXml, startGatehouse, type RunningGatehouse } from '../helpers/gatehouse.js';
import { buildEncryptedResponseXml, buildSignedResponseXml, type EncryptOptions, type ResponseOptions } from '../helpers/saml-idp-signer.js';
import { assertLoginRefused, postResponse, startSpLogin, TEST_IDP, type StartedLogin } from '../helpers/sp-login.js';
import { IDP_KEYS, makeTestKeyPair, SP_KEYS } from '../helpers/test-keys.js';
import { startTestUpstream, type TestUpstream } from '../helpers/upstream.js';

const NEXT_KEYS = makeTestKeyPair({ commonName: 'sp-next.gatehouse.test' });
const STRANGER_KEYS = makeTestKeyPair({ commonName: 'someone-else.test' });
const GCM128 = 'http://www.w3.org/2009/xmlenc11#aes128-gcm';
const CBC128 = 'http://www.w3.org/2001/04/xmlenc#aes128-cbc';
const RSA15 = 'http://www.w3.org/2001/04/xmlenc#rsa-1_5';

let gh: RunningGatehouse;
let upstream: TestUpstream;

before(async () => {
  upstream = await startTestUpstream();
  gh = await startGatehouse({
    files: {
      'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }),
      'sp.key': SP_KEYS.privateKeyPem,
      'sp.crt': SP_KEYS.certPem,
      'next.key': NEXT_KEYS.privateKeyPem,
      'next.crt': NEXT_KEYS.certPem,
    },
    config: { saml: { sp_keys: [{ key_file: 'sp.key', cert_file: 'sp.crt' }, { key_file: 'next.key', cert_file: 'next.crt' }] } },
    connections: [
      { id: 'lab', idp_metadata_file: 'idp.xml' },
      { id: 'strict', idp_metadata_file: 'idp.xml', encryption: { require: true } },
      { id: 'legacy', idp_metadata_file: 'idp.xml', encryption: { require: true, allow_cbc: true } },
      { id: 'quiet', idp_metadata_file: 'idp.xml', sign_requests: false },
    ],
    routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
  });
});

after(async () => {
  await gh?.stop();
  await upstream?.close();
});

function responseFor(login: StartedLogin, extra: Partial<ResponseOptions> = {}): ResponseOptions {
  return {
    idpEntityId: TEST_IDP.entityId,
    spEntityId: login.spEntityId,
    acsUrl: login.acsUrl,
    inResponseTo: login.requestId,
    nameId: 'alice@example.com',
    attributes: { email: ['alice@example.com'], groups: ['ml-engineers'] },
    ...extra,
  };
}

async function encryptedLogin(connection: string, encrypt: Partial<EncryptOptions>, extra: Partial<ResponseOptions> = {}): Promise<{ login: StartedLogin; res: Response }> {
  const login = await startSpLogin(gh.url, connection);
  const xml = await buildEncryptedResponseXml({ ...responseFor(login, extra), encrypt: { certPem: SP_KEYS.certPem, ...encrypt } });
  return { login, res: await postResponse(login, xml) };
}

async function assertSignedIn(res: Response, jar: CookieJar): Promise<void> {
  assert.equal(res.status, 303, await res.text());
  const ml = await jarFetch(jar, `${gh.url}/ml/x`);
  assert.equal(ml.status, 200);
  assert.equal(upstream.seen.at(-1)!.headers['x-forwarded-user'], 'alice@example.com');
}

/** 403 SAML_LOGIN_FAILED, no session cookie, one login-failed line with this reason. */
async function assertRejected(res: Response, reason: string): Promise<void> {
  await assertLoginRefused(res, gh.logs, reason);
}

describe('signed AuthnRequests (HTTP-Redirect binding, SAML bindings 3.4.4.1)', () => {
  test('the request carries SigAlg rsa-sha256 and a Signature the first SP key made over the query as sent', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/saml/lab/login?rd=/`, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('SigAlg'), 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    // The IdP verifies the octets it received: SAMLRequest=..&RelayState=..&SigAlg=.. as URL-encoded.
    const raw = Object.fromEntries(location.search.slice(1).split('&').map((p) => [p.slice(0, p.indexOf('=')), p]));
    const signed = [raw.SAMLRequest, raw.RelayState, raw.SigAlg].join('&');
    const verify = (certPem: string) => createVerify('RSA-SHA256').update(signed).verify(certPem, location.searchParams.get('Signature')!, 'base64');
    assert.equal(verify(SP_KEYS.certPem), true, 'signed by the first (signing) key');
    assert.equal(verify(NEXT_KEYS.certPem), false, 'not by the key rolling in');
  });

  test('sign_requests: false sends the request unsigned', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/saml/quiet/login?rd=/`, { redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('Signature'), null);
    assert.equal(location.searchParams.get('SigAlg'), null);
  });
});

describe('encrypted assertions', () => {
  test('control: AES-256-GCM with RSA-OAEP, signed assertion, signed response: accepted', async () => {
    const { login, res } = await encryptedLogin('strict', {}, { signResponse: true });
    await assertSignedIn(res, login.jar);
  });

  test('AES-128-GCM without a certificate named (as SimpleSAMLphp sends): accepted', async () => {
    const { login, res } = await encryptedLogin('lab', { dataAlgorithm: GCM128, includeCertificate: false });
    await assertSignedIn(res, login.jar);
  });

  test('key rollover: an assertion encrypted to the second (rolling) key is accepted, named or not', async () => {
    for (const includeCertificate of [true, false]) {
      const { login, res } = await encryptedLogin('strict', { certPem: NEXT_KEYS.certPem, includeCertificate });
      await assertSignedIn(res, login.jar);
      const line = gh.logs.find((l) => l.event === 'login' && l.connection === 'strict').at(-1);
      assert.equal(line?.sp_key, new X509Certificate(NEXT_KEYS.certPem).fingerprint256, 'the login line names the key that decrypted');
    }
  });

  test('padding oracle (CBC has no integrity): aes128-cbc refused before decryption unless allow_cbc', async () => {
    const { res } = await encryptedLogin('strict', { dataAlgorithm: CBC128 });
    await assertRejected(res, 'encryption-algorithm-not-allowed');
    const opted = await encryptedLogin('legacy', { dataAlgorithm: CBC128 });
    await assertSignedIn(opted.res, opted.login.jar);
  });

  test('Bleichenbacher / Marvin: rsa-1_5 key transport refused, even where CBC is allowed', async () => {
    for (const connection of ['strict', 'legacy']) {
      const { res } = await encryptedLogin(connection, { keyAlgorithm: RSA15 });
      await assertRejected(res, 'encryption-algorithm-not-allowed');
    }
  });

  test('downgrade: a plain (signed, genuine) assertion is refused where encryption is required', async () => {
    const login = await startSpLogin(gh.url, 'strict');
    await assertRejected(await postResponse(login, buildSignedResponseXml(responseFor(login))), 'assertion-not-encrypted');
    const control = await startSpLogin(gh.url, 'lab');
    await assertSignedIn(await postResponse(control, buildSignedResponseXml(responseFor(control))), control.jar);
  });

  test('encrypted to a key that is not ours: refused (named: unknown key; unnamed: no key opens it)', async () => {
    const named = await encryptedLogin('lab', { certPem: STRANGER_KEYS.certPem });
    await assertRejected(named.res, 'encryption-key-unknown');
    const unnamed = await encryptedLogin('lab', { certPem: STRANGER_KEYS.certPem, includeCertificate: false });
    await assertRejected(unnamed.res, 'decryption-failed');
  });

  test('forgery by encryption (anyone can encrypt to our public key): an unsigned encrypted assertion is refused', async () => {
    const { res } = await encryptedLogin('lab', {}, { signAssertion: false });
    await assertRejected(res, 'signature-invalid');
  });

  test('an encrypted assertion signed by an attacker key is refused', async () => {
    const attacker = makeTestKeyPair({ commonName: 'attacker.evil.test' });
    const { res } = await encryptedLogin('lab', {}, { keys: attacker });
    await assertRejected(res, 'signature-invalid');
  });

  test('an EncryptedAssertion beside a plain Assertion is refused (two assertions)', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const plain = buildSignedResponseXml(responseFor(login));
    const encrypted = await buildEncryptedResponseXml({ ...responseFor(login), encrypt: { certPem: SP_KEYS.certPem } });
    const ea = encrypted.slice(encrypted.indexOf('<saml:EncryptedAssertion>'), encrypted.indexOf('</saml:EncryptedAssertion>') + '</saml:EncryptedAssertion>'.length);
    await assertRejected(await postResponse(login, plain.replace('</samlp:Response>', `${ea}</samlp:Response>`)), 'not-exactly-one-assertion');
  });

  test('comment injection hidden inside the encryption (the outer document looks clean) is refused', async () => {
    const inject = (xml: string) => xml.replace('alice@example.com</saml:NameID>', 'alice@example.com<!---->.evil.test</saml:NameID>');
    const { res } = await encryptedLogin('lab', { alterPlaintext: inject });
    await assertRejected(res, 'xml-comment-present');
  });

  test('DTD / entity expansion hidden inside the encryption is refused', async () => {
    const { res } = await encryptedLogin('lab', { alterPlaintext: (xml) => `<!DOCTYPE x [<!ENTITY a "aaaa">]>${xml}` });
    await assertRejected(res, 'xml-dtd-present');
  });

  test('an assertion encrypted to a Gatehouse without SP keys is refused', async () => {
    const bare = await startGatehouse({
      files: { 'idp.xml': idpMetadataXml({ ...TEST_IDP, certBase64s: [IDP_KEYS.certBase64] }) },
      connections: [{ id: 'lab', idp_metadata_file: 'idp.xml' }],
      routes: [{ name: 'ml', path: '/ml', upstream: upstream.url, allow: [{ groups: ['ml-engineers'] }] }],
    });
    try {
      const login = await startSpLogin(bare.url, 'lab');
      assert.equal(new URL(login.acsUrl).origin, bare.url);
      const res = await postResponse(login, await buildEncryptedResponseXml({ ...responseFor(login), encrypt: { certPem: SP_KEYS.certPem } }));
      assert.equal(res.status, 403);
      const lines = bare.logs.find((l) => l.event === 'login-failed' && l.req_id === res.headers.get('x-request-id'));
      assert.deepEqual(lines.map((l) => l.reason), ['no-sp-keys-to-decrypt']);
      assert.doesNotMatch(await (await fetch(`${bare.url}/.gatehouse/saml/lab/metadata`)).text(), /KeyDescriptor|SingleLogoutService/);
    } finally {
      await bare.stop();
    }
  });

  test('tampered ciphertext (GCM tag): decryption-failed, no session', async () => {
    const login = await startSpLogin(gh.url, 'lab');
    const xml = await buildEncryptedResponseXml({ ...responseFor(login), encrypt: { certPem: SP_KEYS.certPem } });
    const values = [...xml.matchAll(/<xenc:CipherValue>([^<]+)<\/xenc:CipherValue>/g)];
    const data = values.at(-1)![1]!;
    const bytes = Buffer.from(data, 'base64');
    bytes[20] = bytes[20]! ^ 1;
    await assertRejected(await postResponse(login, xml.replace(data, bytes.toString('base64'))), 'decryption-failed');
  });
});

/**
 * The EncryptedAssertion layout xml-encryption (node-saml's decryption) reads differently: it takes
 * the first `//*[local-name()='CipherValue']` for the key and the first
 * `EncryptedData/CipherData/CipherValue` by local name for the content. Foreign-namespace copies
 * hidden in the EncryptedKey's ds:KeyInfo come first: Gatehouse's guard would check stub A while
 * node-saml verifies the genuine, IdP-signed B that the guard never saw.
 */
describe('CipherValue differential (node-saml decrypting another assertion than the one inspected)', () => {
  function gcm(key: Buffer, plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64');
  }

  /** A response whose EncryptedAssertion carries B; with `hide`, B is hidden and the real cipher values carry a stub with B's ID. */
  async function handBuilt(login: StartedLogin, extra: Partial<ResponseOptions>, alterB: (x: string) => string, hide: boolean): Promise<string> {
    let assertionB = '';
    const genuine = await buildEncryptedResponseXml({ ...responseFor(login, extra), encrypt: { certPem: SP_KEYS.certPem, alterPlaintext: (x) => (assertionB = alterB(x)) } });
    const id = /\sID="([^"]+)"/.exec(assertionB)![1]!;
    const assertionA = hide ? `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}"/>` : assertionB;
    const cek = randomBytes(32);
    const wrapped = publicEncrypt({ key: SP_KEYS.certPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, cek).toString('base64');
    const X = 'xmlns:x="urn:x"';
    const hidden = hide ? `<x:CipherValue ${X}>${wrapped}</x:CipherValue><x:EncryptedData ${X}><x:CipherData><x:CipherValue>${gcm(cek, assertionB)}</x:CipherValue></x:CipherData></x:EncryptedData>` : '';
    const ea = '<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" Type="http://www.w3.org/2001/04/xmlenc#Element">'
      + '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>'
      + '<ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptedKey>'
      + '<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/>'
      + `<ds:KeyInfo>${hidden}<ds:X509Data><ds:X509Certificate>${SP_KEYS.certBase64}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>`
      + `<xenc:CipherData><xenc:CipherValue>${wrapped}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo>`
      + `<xenc:CipherData><xenc:CipherValue>${gcm(cek, assertionA)}</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData></saml:EncryptedAssertion>`;
    const out = genuine.replace(/<saml:EncryptedAssertion>[\s\S]*<\/saml:EncryptedAssertion>/, ea);
    assert.notEqual(out, genuine);
    return out;
  }

  test('control: the hand-built layout carrying a clean genuine assertion signs in where encryption is required', async () => {
    const login = await startSpLogin(gh.url, 'strict');
    await assertSignedIn(await postResponse(login, await handBuilt(login, {}, (x) => x, false)), login.jar);
  });

  const attacks: [string, Partial<ResponseOptions>, (x: string) => string, string][] = [
    ['comment injected into the signed NameID', {}, (x) => x.replace('alice@example.com</saml:NameID>', 'alice@example.com<!---->.evil.test</saml:NameID>'), 'xml-comment-present'],
    ['SHA-1 signature and digest', { signatureAlgorithm: 'sha1', digestAlgorithm: 'sha1' }, (x) => x, 'weak-signature-algorithm'],
  ];
  for (const [name, extra, alter, guardReason] of attacks) {
    test(`CipherValue differential hiding a ${name}: refused (encrypted-assertion-malformed), as it is when encrypted normally`, async () => {
      const { res: control } = await encryptedLogin('strict', { alterPlaintext: alter }, extra);
      await assertRejected(control, guardReason);
      const login = await startSpLogin(gh.url, 'strict');
      const before = upstream.seen.length;
      await assertRejected(await postResponse(login, await handBuilt(login, extra, alter, true)), 'encrypted-assertion-malformed');
      assert.equal((await jarFetch(login.jar, `${gh.url}/ml/x`)).status !== 200, true, 'no session');
      assert.equal(upstream.seen.length, before, 'nothing forwarded');
    });
  }
});

describe('SP metadata', () => {
  test('served at the metadata URL, with both keys, for each connection', async () => {
    const res = await fetch(`${gh.url}/.gatehouse/saml/legacy/metadata`);
    assert.equal(res.status, 200);
    const xml = await res.text();
    for (const k of [SP_KEYS, NEXT_KEYS]) assert.equal(xml.split(k.certBase64).length - 1, 2, 'signing and encryption');
    assert.match(xml, /AuthnRequestsSigned="true"/);
    assert.match(xml, new RegExp(`Location="${gh.url}/.gatehouse/saml/legacy/slo"`));
    assert.match(xml, /aes128-cbc/, 'legacy accepts CBC and says so');
    assert.doesNotMatch(await (await fetch(`${gh.url}/.gatehouse/saml/lab/metadata`)).text(), /-cbc/);
    assert.match(await (await fetch(`${gh.url}/.gatehouse/saml/quiet/metadata`)).text(), /AuthnRequestsSigned="false"/);
  });
});
